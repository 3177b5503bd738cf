// The XDP program gslbd attaches to server.xdp.interface: UDP datagrams to one of
// our ports go to the AF_XDP socket of the queue they arrived on; everything else
// (ARP, ND, ICMP, TCP, other UDP, fragments, IPv4 options, IPv6 extension headers)
// goes on to the kernel untouched. Compiled with clang -target bpf at build time
// and embedded in the gslbd binary (xdp/program.S).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// One AF_XDP socket per receive queue; the key is the queue index. 256 bounds the
// queues one interface can have answered (more than any NIC this runs on has).
struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u32);
} gslbd_xsks SEC(".maps");

// The UDP destination ports answered, in network byte order (the listen ports).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u16);
  __type(value, __u8);
} gslbd_ports SEC(".maps");

SEC("xdp")
int gslbd_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_PASS;
  struct udphdr *udp;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end) return XDP_PASS;
    // Options and fragments are rare for DNS queries; the kernel handles them.
    if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff))) return XDP_PASS;
    udp = (void *)(ip + 1);
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return XDP_PASS;
    if (ip6->nexthdr != IPPROTO_UDP) return XDP_PASS;
    udp = (void *)(ip6 + 1);
  } else {
    return XDP_PASS;
  }
  if ((void *)(udp + 1) > end) return XDP_PASS;
  __u16 port = udp->dest;
  if (!bpf_map_lookup_elem(&gslbd_ports, &port)) return XDP_PASS;
  // A queue without a socket (not configured in server.xdp.queues) passes.
  return bpf_redirect_map(&gslbd_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
