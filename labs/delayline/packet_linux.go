//go:build linux

package delayline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// packetPort is an AF_PACKET socket bound to one interface, with a virtio-net header
// on every frame (PACKET_VNET_HDR) so that checksum offload state (a frame whose TCP
// checksum the sender left to the device) and GSO metadata cross the line: without it
// a frame read from a veth carries an unfinished checksum and its receiver drops it.
type packetPort struct {
	fd int
}

// ethPAll is ETH_P_ALL in network byte order, as socket(2) and bind(2) want it.
func ethPAll() uint16 { return uint16(unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8) }

func openPacket(ifname string) (*packetPort, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("delayline: interface %q: %w", ifname, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(ethPAll()))
	if err != nil {
		return nil, fmt.Errorf("delayline: packet socket on %q: %w", ifname, err)
	}
	p := &packetPort{fd: fd}
	fail := func(what string, err error) (*packetPort, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("delayline: %s on %q: %w", what, ifname, err)
	}
	// Our own transmissions on this interface are not input.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	// Room for a burst: 20 ms of 1 Gb/s is 2.5 MB.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll(), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	// The interface must accept frames addressed to anyone: it is a wire's middle.
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fail("promiscuous mode", err)
	}
	return p, nil
}

func (p *packetPort) wait(timeout int64) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(max(timeout, 0))
	for {
		n, err := unix.Ppoll(fds, &ts, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return false, err
		case n > 0 && fds[0].Revents&unix.POLLNVAL != 0:
			return false, fmt.Errorf("poll: socket closed")
		case n > 0 && fds[0].Revents&unix.POLLERR != 0:
			// A pending socket error: ENETDOWN when the interface (or, for a veth,
			// its state) changed. Reading SO_ERROR clears it; a wire outlives a
			// link flap, so only errors that mean the device is gone end the line.
			e, gerr := unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if gerr != nil {
				return false, gerr
			}
			if errno := unix.Errno(e); e != 0 && errno != unix.ENETDOWN {
				return false, fmt.Errorf("socket error: %w", errno)
			}
			return fds[0].Revents&unix.POLLIN != 0, nil
		}
		return n > 0, nil
	}
}

func (p *packetPort) read(buf []byte) (int, error) {
	for {
		n, _, err := unix.Recvfrom(p.fd, buf, unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, errTimeout
		default:
			return 0, err
		}
	}
}

func (p *packetPort) write(frame []byte) error {
	for {
		_, err := unix.Write(p.fd, frame)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.EAGAIN):
			return errCongested // the frame is lost, as on a congested wire
		default:
			return err
		}
	}
}

func (p *packetPort) close() error { return unix.Close(p.fd) }

// monoClock reads CLOCK_MONOTONIC.
type monoClock struct{}

func (monoClock) now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// lockThread pins the calling goroutine to its OS thread for its lifetime (a pipe's
// loop blocks in system calls and should not migrate), optionally under SCHED_FIFO.
func lockThread(realtime bool) error {
	runtime.LockOSThread()
	if realtime {
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
			return fmt.Errorf("delayline: SCHED_FIFO: %w", err)
		}
	}
	// A small timer slack keeps ppoll's timed wakeup within a few microseconds (the
	// default slack is 50 µs).
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return nil
}

// Run opens both interfaces (in the calling process's network namespace) and runs the
// line until ctx ends. onStart, if not nil, is called once both sockets are open.
func Run(ctx context.Context, o Options, onStart func(*Line)) error {
	o, err := o.Validate()
	if err != nil {
		return err
	}
	a, err := openPacket(o.A)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := openPacket(o.B)
	if err != nil {
		return err
	}
	defer b.close()
	l := newLine(a, b, o, monoClock{})
	if onStart != nil {
		onStart(l)
	}
	return l.run(ctx, func() error { return lockThread(o.Realtime) })
}
