"""The zone the DNS behaviour tests query: every kind of name a user can write."""

BIG_STRINGS = ['"' + chr(ord("a") + i) * 240 + '"' for i in range(4)]    # ~1 kB answer: > 512, < 1232
HUGE_STRINGS = ['"' + chr(ord("k") + i) * 240 + '"' for i in range(6)]   # ~1.5 kB answer: > 1232, < 4096

# A delegation whose referral fits 512 bytes only without its glue (RFC 9471).
BIGD_GLUE = "".join(f"      bigd     300  IN NS    ns-with-a-long-name-{i}.bigd\n"
                    f"      ns-with-a-long-name-{i}.bigd 300 IN A 192.0.2.{100 + i}\n"
                    f"      ns-with-a-long-name-{i}.bigd 300 IN AAAA 2001:db8::{100 + i}\n" for i in range(6))

DNS_CONFIG = """
server:
  listen: [@LISTEN@]
  workers: 2
  http: @HTTP@
  nsid: test-ns1
zones:
  - origin: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 2024010101, minimum: 60, ttl: 3600 }
    ns: [ns1.example.test., ns2.example.test.]
    records: |
      ns1      3600 IN A     192.0.2.53
      ns1      3600 IN AAAA  2001:db8::53
      ns2      3600 IN A     192.0.2.54
      www      300  IN A     192.0.2.80
      www      300  IN AAAA  2001:db8::80
      alias    300  IN CNAME www
      dangling 300  IN CNAME nowhere
      away     300  IN CNAME www.example.org.
      @        300  IN MX    10 mail
      mail     300  IN A     192.0.2.25
      txt      300  IN TXT   "hello world" "second string"
      a.b.ent  300  IN A     192.0.2.1
      sub      300  IN NS    ns.sub
      ns.sub   300  IN A     192.0.2.99
      ns.sub   300  IN AAAA  2001:db8::99
      *.wild   300  IN A     192.0.2.77
      host.wild 300 IN TXT   "exists"
      z.ent.wild 300 IN A    192.0.2.78
      loop1    300  IN CNAME loop2
      loop2    300  IN CNAME loop1
      self     300  IN CNAME self
      *.wc     300  IN CNAME www
      tow      300  IN CNAME foo.wild
      c1       300  IN CNAME c2
      c2       300  IN CNAME c3
      c3       300  IN CNAME www
""" + BIGD_GLUE + """      big      300  IN TXT   """ + " ".join(BIG_STRINGS) + """
      huge     300  IN TXT   """ + " ".join(HUGE_STRINGS) + """
  - origin: short.test.
    soa: { mname: ns1.short.test., rname: hostmaster.short.test., serial: 7, minimum: 600, ttl: 30 }
    ns: [ns1.short.test.]
    records: |
      ns1 300 IN A 192.0.2.153
services: []
clusters: {}
"""
