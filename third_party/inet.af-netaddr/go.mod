module inet.af/netaddr
