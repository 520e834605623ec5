#!/usr/bin/perl
# Writes one small MaxMind DB for the tests: make_mmdb.pl {country|city|asn} OUTPUT
#
# Every database: ip_version 6, record_size 24, IPv4 stored at ::/96 and aliased
# (::ffff:0:0/96, 2002::/16, 2001::/32 reach the IPv4 data), documentation and
# benchmarking ranges only. Tests elsewhere rely on this table; keep it true.
#
#   network            country  registered  continent  city       ASN      AS organization
#   198.51.100.0/24    FR       FR          EU         Paris      64501    Example FR
#   203.0.113.0/24     US       US          NA         New York   64502    Example US
#   192.0.2.0/25       DE       DE          EU         Berlin     64503    Example DE
#   192.0.2.128/25     JP       JP          AS         Tokyo      64504    Example JP
#   198.18.0.0/15      GB       GB          EU         London     64505    Example GB
#   2001:db8:1::/48    FR       FR          EU         Paris      64511    Example FR v6
#   2001:db8:2::/48    US       US          NA         New York   64512    Example US v6
#   2001:db8:3::/48    -        NL          EU         -          -        -
#
# 2001:db8:3::/48 has only registered_country (no country, no city) and is absent from
# the ASN database: it exercises the registered_country fallback and "not found".
# Anything else (e.g. 10.0.0.1, 2001:db8:ffff::1) is not in any database.
# database_type: GeoLite2-Country, GeoLite2-City (which carries country data too),
# GeoLite2-ASN.
use strict;
use warnings;

use MaxMind::DB::Writer::Tree;

my ($kind, $out) = @ARGV;
die "usage: $0 {country|city|asn} OUTPUT\n"
    unless defined $out && $kind =~ /^(country|city|asn)$/;

my @rows = (
    # network, country, registered, continent, city, asn
    ['198.51.100.0/24', 'FR', 'FR', 'EU', 'Paris',    64501],
    ['203.0.113.0/24',  'US', 'US', 'NA', 'New York', 64502],
    ['192.0.2.0/25',    'DE', 'DE', 'EU', 'Berlin',   64503],
    ['192.0.2.128/25',  'JP', 'JP', 'AS', 'Tokyo',    64504],
    ['198.18.0.0/15',   'GB', 'GB', 'EU', 'London',   64505],
    ['2001:db8:1::/48', 'FR', 'FR', 'EU', 'Paris',    64511],
    ['2001:db8:2::/48', 'US', 'US', 'NA', 'New York', 64512],
    ['2001:db8:3::/48', undef, 'NL', 'EU', undef,     undef],
);

my %types = (
    country                        => 'map',
    registered_country             => 'map',
    continent                      => 'map',
    city                           => 'map',
    names                          => 'map',
    iso_code                       => 'utf8_string',
    code                           => 'utf8_string',
    en                             => 'utf8_string',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);

my %db_type = (country => 'GeoLite2-Country', city => 'GeoLite2-City', asn => 'GeoLite2-ASN');

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => $db_type{$kind},
    languages                => ['en'],
    description              => { en => "gslbd test $db_type{$kind}" },
    map_key_type_callback    => sub { $types{ $_[0] } },
    alias_ipv6_to_ipv4       => 1,
    # the documentation ranges used here are "reserved": keep them
    remove_reserved_networks => 0,
);

for my $r (@rows) {
    my ($net, $cc, $reg, $cont, $city, $asn) = @$r;
    my %rec;
    if ($kind eq 'asn') {
        next unless defined $asn;
        %rec = (
            autonomous_system_number       => $asn,
            autonomous_system_organization => "Example $cc" . ($net =~ /:/ ? ' v6' : ''),
        );
    } else {
        $rec{country}            = { iso_code => $cc, names => { en => "Country $cc" } } if defined $cc;
        $rec{registered_country} = { iso_code => $reg, names => { en => "Country $reg" } };
        $rec{continent}          = { code => $cont, names => { en => "Continent $cont" } };
        $rec{city} = { names => { en => $city } } if $kind eq 'city' && defined $city;
    }
    $tree->insert_network($net, \%rec);
}

open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
