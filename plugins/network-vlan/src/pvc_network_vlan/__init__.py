"""PVC's bridged networks: an 802.1q VLAN of a node's interface per network, bridged for the VMs (the
``vlan`` network driver)."""
