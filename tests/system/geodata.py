"""Debian's tor-geoipdb files, read in Python so that tests pick client addresses
from the data gslbd reads (not hard-coded) and know where its ranges begin and end."""
import bisect
import ipaddress
import socket

GEOIP4 = "/usr/share/tor/geoip"
GEOIP6 = "/usr/share/tor/geoip6"

MAPPED = int(ipaddress.IPv6Address("::ffff:0:0"))


class TorGeoip:
    """The tor-geoipdb files as sorted (start, end, country) integer ranges."""

    def __init__(self):
        self.ranges = {4: [], 6: []}
        for family, path in ((4, GEOIP4), (6, GEOIP6)):
            with open(path) as f:
                for line in f:
                    if line.startswith("#") or not line.strip():
                        continue
                    a, b, cc = line.strip().split(",")
                    if family == 4:
                        lo, hi = int(a), int(b)
                    else:
                        lo = int.from_bytes(socket.inet_pton(socket.AF_INET6, a), "big")
                        hi = int.from_bytes(socket.inet_pton(socket.AF_INET6, b), "big")
                    self.ranges[family].append((lo, hi, cc))
            self.ranges[family].sort()
        self.starts = {f: [r[0] for r in self.ranges[f]] for f in (4, 6)}

    def country(self, family, addr):
        i = bisect.bisect_right(self.starts[family], addr) - 1
        if i >= 0 and self.ranges[family][i][1] >= addr:
            return self.ranges[family][i][2]
        return None

    def address_in(self, cc, family=4, prefix=24, avoid=()):
        """The middle of the largest `cc` range: a /`prefix` block wholly inside it."""
        best = max((r for r in self.ranges[family] if r[2] == cc and not any(r[0] <= a <= r[1] for a in avoid)),
                   key=lambda r: r[1] - r[0])
        bits = 32 if family == 4 else 128
        mid = (best[0] + best[1]) // 2
        net = mid >> (bits - prefix) << (bits - prefix)
        assert best[0] <= net and net + (1 << (bits - prefix)) - 1 <= best[1], (cc, best)
        return str(ipaddress.ip_address(net))

    def boundaries(self, family, lo, hi):
        """Every range start and end inside [lo, hi]: where a decision could change.
        IPv4-mapped IPv6 addresses (::ffff:0:0/96) are located as IPv4."""
        out = []
        if family == 6:
            mapped_lo, mapped_hi = MAPPED, MAPPED + 0xFFFFFFFF
            if lo <= mapped_hi and hi >= mapped_lo:
                out += [MAPPED + a for a in self.boundaries(4, max(lo, mapped_lo) - MAPPED, min(hi, mapped_hi) - MAPPED)]
                out += [a for a in (mapped_lo - 1, mapped_lo, mapped_hi, mapped_hi + 1) if lo <= a <= hi]
        i = max(0, bisect.bisect_right(self.starts[family], lo) - 1)
        for start, end, _ in self.ranges[family][i:]:
            if start > hi:
                break
            out += [a for a in (start - 1, start, end, end + 1) if lo <= a <= hi]
        return sorted(set(out))


GEO = TorGeoip()
JP4 = GEO.address_in("JP")
DE4 = GEO.address_in("DE")
US4 = GEO.address_in("US")
# 2002::/16 (6to4) is tagged JP in the file: not what a Japanese client looks like.
JP6 = GEO.address_in("JP", family=6, prefix=48, avoid=[int(ipaddress.IPv6Address("2002::"))])
DE6 = GEO.address_in("DE", family=6, prefix=48, avoid=[int(ipaddress.IPv6Address("2002::"))])

