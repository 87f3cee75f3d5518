//go:build !linux

package load

import "net"

// wrapRaw is the identity where raw syscalls are not implemented.
func wrapRaw(c net.Conn) net.Conn { return c }
