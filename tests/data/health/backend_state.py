"""The state file shared by the test backends: `key=value` lines, re-read on every request so
that a test changes a backend's behaviour by rewriting the file."""


def read_state(path, defaults):
    """`defaults` updated with the file's values (all strings); just `defaults` when the file
    does not exist (yet)."""
    st = dict(defaults)
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    st[k] = v
    except FileNotFoundError:
        pass
    return st
