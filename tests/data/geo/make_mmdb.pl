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
# The city database also carries subdivisions[0].iso_code and location.latitude/longitude
# (the geoip modes' subdivision and nearest steps):
#
#   network            subdivision  latitude   longitude   (city, country)
#   198.51.100.0/24    IDF          48.8566      2.3522    Paris, FR
#   203.0.113.0/24     NY           40.7128    -74.0060    New York, US
#   192.0.2.0/25       BE           52.5200     13.4050    Berlin, DE
#   192.0.2.128/25     13           35.6762    139.6503    Tokyo, JP
#   198.18.0.0/15      ENG          51.5074     -0.1278    London, GB
#   2001:db8:1::/48    IDF          48.8566      2.3522    Paris, FR
#   2001:db8:2::/48    NY           40.7128    -74.0060    New York, US
#   100.64.1.0/24      CA           37.3382   -121.8863    San Jose, US (NA, AS64521)
#   100.64.2.0/24      CA           37.8044   -122.2711    Oakland, US (NA, AS64522)
#   100.64.3.0/24      BC           49.2827   -123.1207    Vancouver, CA (NA, AS64523)
#   100.64.4.0/24      ARA          45.7640      4.8357    Lyon, FR (EU, AS64524)
#   100.64.5.0/24      -            -           -          -, US (NA): no city, no location
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
    # network, country, registered, continent, city, asn, subdivision, latitude, longitude
    ['198.51.100.0/24', 'FR', 'FR', 'EU', 'Paris',     64501, 'IDF', 48.8566,    2.3522],
    ['203.0.113.0/24',  'US', 'US', 'NA', 'New York',  64502, 'NY',  40.7128,  -74.0060],
    ['192.0.2.0/25',    'DE', 'DE', 'EU', 'Berlin',    64503, 'BE',  52.5200,   13.4050],
    ['192.0.2.128/25',  'JP', 'JP', 'AS', 'Tokyo',     64504, '13',  35.6762,  139.6503],
    ['198.18.0.0/15',   'GB', 'GB', 'EU', 'London',    64505, 'ENG', 51.5074,   -0.1278],
    ['2001:db8:1::/48', 'FR', 'FR', 'EU', 'Paris',     64511, 'IDF', 48.8566,    2.3522],
    ['2001:db8:2::/48', 'US', 'US', 'NA', 'New York',  64512, 'NY',  40.7128,  -74.0060],
    ['2001:db8:3::/48', undef, 'NL', 'EU', undef,      undef, undef, undef,     undef],
    ['100.64.1.0/24',   'US', 'US', 'NA', 'San Jose',  64521, 'CA',  37.3382, -121.8863],
    ['100.64.2.0/24',   'US', 'US', 'NA', 'Oakland',   64522, 'CA',  37.8044, -122.2711],
    ['100.64.3.0/24',   'CA', 'CA', 'NA', 'Vancouver', 64523, 'BC',  49.2827, -123.1207],
    ['100.64.4.0/24',   'FR', 'FR', 'EU', 'Lyon',      64524, 'ARA', 45.7640,    4.8357],
    ['100.64.5.0/24',   'US', 'US', 'NA', undef,       undef, undef, undef,     undef],
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
    subdivisions                   => ['array', 'map'],
    location                       => 'map',
    latitude                       => 'double',
    longitude                      => 'double',
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
    my ($net, $cc, $reg, $cont, $city, $asn, $sub, $lat, $lon) = @$r;
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
        if ($kind eq 'city') {
            $rec{city} = { names => { en => $city } } if defined $city;
            $rec{subdivisions} = [ { iso_code => $sub, names => { en => "Subdivision $sub" } } ]
                if defined $sub;
            $rec{location} = { latitude => $lat, longitude => $lon } if defined $lat;
        }
    }
    $tree->insert_network($net, \%rec);
}

open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
