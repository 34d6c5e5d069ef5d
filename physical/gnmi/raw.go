package gnmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// rawCodec marshals requests with protobuf and hands responses over as their encoded
// bytes, so a hot consumer (telemetry) can decode them without allocating.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("gnmi: raw codec cannot marshal %T", v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("gnmi: raw codec cannot unmarshal into %T", v)
	}
	*p = (*p)[:0]
	for _, b := range data {
		*p = append(*p, b.ReadOnlyData()...)
	}
	return nil
}

var subscribeDesc = &grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true, ClientStreams: true}

// SubscribeRaw is Subscribe handing each response to fn as its protobuf encoding (a
// gnmi.SubscribeResponse). The slice is reused: fn must not keep it.
func (c *Client) SubscribeRaw(ctx context.Context, req *gpb.SubscribeRequest, fn func(msg []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.conn.NewStream(ctx, subscribeDesc, gpb.GNMI_Subscribe_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return c.wrap("subscribe", err)
	}
	if err := st.SendMsg(req); err != nil {
		return c.wrap("subscribe", err)
	}
	var buf []byte
	for {
		err := st.RecvMsg(&buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return c.wrap("subscribe", err)
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
}

// SubscribeRawLoop is SubscribeLoop over SubscribeRaw.
func (c *Client) SubscribeRawLoop(ctx context.Context, req *gpb.SubscribeRequest, base, max time.Duration, fn func(msg []byte) error, onDown func(error)) error {
	return c.loop(ctx, base, max, onDown, func(got func()) error {
		return c.SubscribeRaw(ctx, req, func(b []byte) error { got(); return fn(b) })
	})
}
