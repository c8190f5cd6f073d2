"""PVC's managed networks: VXLAN with BGP EVPN through FRR, gateways on the primary, DHCP and DNS with
dnsmasq, ACLs with nftables (the ``evpn`` network driver and the ``network-evpn`` plugin)."""
