package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/multihomed/multihomed/speaker"
)

// runRouter is the demo's upstream ISP router: an embedded GoBGP that
// peers with the server and originates a few prefixes (a default among
// them), so the BGP act needs nothing beyond this binary. It runs in the
// ISP's namespace until SIGTERM.
func runRouter(args []string) error {
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	asn := fs.Uint("asn", 64501, "the router's AS")
	id := fs.String("router-id", "", "the router's id (its IPv4 address)")
	peer := fs.String("peer", "", "the server's address")
	peerASN := fs.Uint("peer-asn", 65010, "the server's AS")
	originate := fs.String("originate", "0.0.0.0/0", "comma-separated prefixes to originate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := server.NewBgpServer(server.LoggerOption(quietLogger{}))
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: uint32(*asn), RouterId: *id, ListenPort: 179}}); err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	fam := func(afi api.Family_Afi) *api.AfiSafi {
		return &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:   &api.PeerConf{NeighborAddress: *peer, PeerAsn: uint32(*peerASN)},
		Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3, ConnectRetry: 1}},
		// Passive: only the daemon connects. Two GoBGPs that both connect
		// can lock each other out after a restart: each refuses the
		// other's connection during its own idle hold (5 s), and with
		// retry cycles of nearly equal length they kept missing each other
		// for more than the demo's 30 s (seen in 2 of 4 runs).
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{fam(api.Family_AFI_IP), fam(api.Family_AFI_IP6)},
	}}); err != nil {
		return fmt.Errorf("add peer: %w", err)
	}
	for _, ps := range strings.Split(*originate, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(ps))
		if err != nil {
			return err
		}
		path, err := originPath(p)
		if err != nil {
			return err
		}
		if _, err := s.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
			return fmt.Errorf("originate %s: %w", p, err)
		}
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return speaker.StopServer(stopCtx, s)
}

// originPath is p as a locally originated path: next hop self.
func originPath(p netip.Prefix) (*api.Path, error) {
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
	if err != nil {
		return nil, err
	}
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}}
	if p.Addr().Is4() {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: "0.0.0.0"})
	} else {
		family = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: family, NextHops: []string{"::"}, Nlris: []*anypb.Any{nlri}})
	}
	path := &api.Path{Family: family, Nlri: nlri}
	for _, m := range attrs {
		a, err := anypb.New(m)
		if err != nil {
			return nil, err
		}
		path.Pattrs = append(path.Pattrs, a)
	}
	return path, nil
}

// quietLogger keeps GoBGP's chatter out of the demo: errors only.
type quietLogger struct{}

var _ log.Logger = quietLogger{}

func (quietLogger) Panic(msg string, f log.Fields) { slog.Error(msg, "fields", f); os.Exit(1) }
func (quietLogger) Fatal(msg string, f log.Fields) { slog.Error(msg, "fields", f); os.Exit(1) }
func (quietLogger) Error(msg string, f log.Fields) { slog.Error(msg, "fields", f) }
func (quietLogger) Warn(string, log.Fields)        {}
func (quietLogger) Info(string, log.Fields)        {}
func (quietLogger) Debug(string, log.Fields)       {}
func (quietLogger) SetLevel(log.LogLevel)          {}
func (quietLogger) GetLevel() log.LogLevel         { return log.ErrorLevel }
