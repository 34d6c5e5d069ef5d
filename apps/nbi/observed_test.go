package nbi_test

import (
	"context"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

func TestObservedRoutes(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	err := e.m.Live().Observe(context.Background(), func(o *twin.Observation) error {
		if err := o.Device("leaf-0", true, at); err != nil {
			return err
		}
		if err := o.Link("spine-0--leaf-0", twin.LinkState{OperStatus: network.StatusEnabled, RateGbps: [2]float64{3, 4}, At: at}); err != nil {
			return err
		}
		for _, ifc := range []string{"eth1", "eth2", "eth3"} {
			if err := o.Interface("leaf-0", ifc, twin.InterfaceState{OperStatus: network.StatusEnabled, InOctets: 7, At: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var od twin.ObservedDevice
	e.json("GET", live+"/observed/devices/leaf-0", "", 200, &od)
	if !od.Reachable || !od.At.Equal(at) {
		t.Errorf("observed device %+v", od)
	}
	var ods nbi.List[twin.ObservedDevice]
	e.json("GET", live+"/observed/devices", "", 200, &ods)
	if len(ods.Items) != 1 {
		t.Errorf("observed devices %+v", ods)
	}
	var ol twin.ObservedLink
	e.json("GET", live+"/observed/links/spine-0--leaf-0", "", 200, &ol)
	if ol.RateGbps != [2]float64{3, 4} {
		t.Errorf("observed link %+v", ol)
	}
	var ols nbi.List[twin.ObservedLink]
	e.json("GET", live+"/observed/links", "", 200, &ols)
	if len(ols.Items) != 1 {
		t.Errorf("observed links %+v", ols)
	}
	var ifs nbi.List[twin.ObservedInterface]
	e.json("GET", live+"/observed/interfaces?limit=2", "", 200, &ifs)
	if len(ifs.Items) != 2 || ifs.Items[0].ID != "leaf-0/eth1" || ifs.NextPageToken == "" {
		t.Errorf("observed interfaces page %+v", ifs)
	}
	var ifs2 nbi.List[twin.ObservedInterface]
	e.json("GET", live+"/observed/interfaces?limit=2&page_token="+ifs.NextPageToken, "", 200, &ifs2)
	if len(ifs2.Items) != 1 || ifs2.Items[0].Interface != "eth3" || ifs2.NextPageToken != "" {
		t.Errorf("observed interfaces page 2 %+v", ifs2)
	}
	// A fork taken now holds the observations too; unknown objects are 404.
	var f twin.Info
	e.json("POST", live+"/forks", "", 201, &f)
	e.json("GET", "/api/v1/twins/"+f.ID+"/observed/links/spine-0--leaf-0", "", 200, nil)
	p := problem(t, e.do("GET", live+"/observed/links/ghost", ""))
	if p.Status != 404 {
		t.Errorf("unknown observed link: %+v", p)
	}
	if p := problem(t, e.do("GET", "/api/v1/twins/nope/observed/devices", "")); p.Status != 404 || p.Field != "twin" {
		t.Errorf("unknown twin: %+v", p)
	}
	if p := problem(t, e.do("GET", live+"/observed/interfaces?limit=0", "")); p.Status != 400 || p.Field != "limit" {
		t.Errorf("bad limit: %+v", p)
	}
}
