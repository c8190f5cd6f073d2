"""PVC's libvirt/QEMU compute driver."""
