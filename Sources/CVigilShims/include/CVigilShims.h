#ifndef CVIGILSHIMS_H
#define CVIGILSHIMS_H
// Thin C helpers for what Swift cannot express directly: CMSG_* macros, ifreq unions, and a
// fork+setuid+exec for scripts run as another user.
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <net/if.h>

/// recvmsg() on an IPv6 raw socket with IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO set.
/// Returns the byte count (or -1 with errno); fills the source, the destination address and
/// the hop limit (-1 when the kernel gave none).
ssize_t vigil_recv6(int fd, uint8_t *buf, size_t len, struct sockaddr_in6 *from,
                    struct in6_addr *dst, int *hoplimit);

/// recvmsg() on an IPv4 raw socket with IP_RECVTTL: the TTL from the control message (-1 if
/// absent). IPv4 raw sockets also return the IP header, which the caller parses.
ssize_t vigil_recv4(int fd, uint8_t *buf, size_t len, struct sockaddr_in *from, int *ttl);

/// SIOCGIFHWADDR on `ifname` (via a throwaway socket in the caller's network namespace).
int vigil_if_hwaddr(const char *ifname, uint8_t mac[6]);

/// fork + (optional setgid/setuid) + execv. Returns the child's pid, or -1 with errno.
pid_t vigil_spawn(const char *path, char *const argv[], int change_ids, uid_t uid, gid_t gid);

/// setns() into the network namespace at `path` for the calling thread only.
int vigil_setns_net(const char *path);
/// SIOCGIFFLAGS on `ifname` using the caller's socket `fd`: the IFF_* flags, or -1 with errno.
int vigil_if_flags(int fd, const char *ifname);
#endif
