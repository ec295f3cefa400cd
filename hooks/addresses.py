"""Addresses a cluster credential may not name: the link-local range and the clouds' metadata servers.

Pure logic. A credential's server is dialled from the hooks pod, whose node may answer on these
addresses with its own cloud credentials; no Kubernetes API server lives there.
"""

import ipaddress
import socket
from typing import Final

#: (network, what it is), for messages.
BLOCKED_NETWORKS: Final = (
    (ipaddress.ip_network("169.254.0.0/16"), "the IPv4 link-local range, where cloud metadata servers answer"),
    (ipaddress.ip_network("fe80::/10"), "the IPv6 link-local range"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "the AWS metadata server's IPv6 address"),
    (ipaddress.ip_network("100.100.100.200/32"), "the Alibaba Cloud metadata server's address"),
)

#: The well-known NAT64 prefix (RFC 6052): its addresses reach the IPv4 address in their last 32 bits.
NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
#: The local-use NAT64 prefix (RFC 8215), as a /48: the IPv4 address is in bytes 6-7 and 9-10 (RFC 6052).
NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")


def blocked(address: str) -> str | None:
    """What address is, if it is an IP address a credential may not name (None: allowed, or not an IP)."""
    text = address.strip("[]").split("%", 1)[0]
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text)
    except ValueError:
        try:  # the other spellings the resolver takes for an IPv4 address: 2852039166, 0xa9fea9fe, 169.254.43518
            ip = ipaddress.IPv4Address(socket.inet_aton(text))
        except (OSError, ValueError):
            return None
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside an IPv6 one reaches it too
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in NAT64_LOCAL:
            packed = ip.packed
            ip = ipaddress.IPv4Address(packed[6:8] + packed[9:11])
    for network, what in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return what
    return None
