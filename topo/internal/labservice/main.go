// Command labservice is the lab's test service and its client, one small
// static binary that topo builds and runs inside lab namespaces.
//
//	labservice serve -listen ADDR [-status-file FILE]
//	labservice get [-timeout D] URL
//	labservice echo -listen ADDR
//	labservice flows -proto udp|tcp -n N [-timeout D] ADDR
//	labservice hold -for D [-every D] ADDR
//
// serve answers every request on ADDR (host:port) with 200 "OK\n", or with
// the status code written in FILE (read at every request, so a change takes
// effect at once; a missing or empty file means 200). It binds with
// IP_FREEBIND, so ADDR may be a service address the host does not hold
// (yet): a VIP that comes and goes. Once it listens it prints "listening on
// ADDR" on standard output, the line topo waits for.
//
// echo answers on ADDR, over UDP and TCP, with the address each datagram
// or connection came from: the server that records what source a NAT
// gateway gave each connection. It prints "listening on ADDR" too.
//
// flows opens N new connections to ADDR one after the other (a new socket,
// so a new source port and a new conntrack entry, each), each asking echo
// for its source; it prints a JSON object: how many answers named each
// source, and how many flows got no answer within the timeout.
//
// hold keeps one UDP flow to an echo service for a while, asking every
// interval; it prints one line per question as it goes: the source echo
// saw, or "no answer". A long connection, for a gateway to keep on its
// uplink.
//
// get fetches URL (no keep-alive, no redirects) and prints the status code
// on the first line of standard output and the body after it. It exits 0
// for a 2xx status, 1 for any other status and 2 when there was no HTTP
// answer at all, so it also serves as a health check script (keepalived's
// vrrp_script, multihomed's exec check).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Exit codes of get.
const (
	exitOK      = 0
	exitStatus  = 1
	exitNoReply = 2
	exitUsage   = 64
)

// maxBody bounds what get reads and prints of a response.
const maxBody = 64 << 10

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "get":
		os.Exit(get(os.Args[2:]))
	case "echo":
		echo(os.Args[2:])
	case "flows":
		os.Exit(flows(os.Args[2:]))
	case "hold":
		os.Exit(hold(os.Args[2:]))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labservice serve -listen ADDR [-status-file FILE]\n       labservice get [-timeout D] URL\n"+
		"       labservice echo -listen ADDR\n       labservice flows -proto udp|tcp -n N [-timeout D] ADDR\n"+
		"       labservice hold -for D [-every D] ADDR")
	os.Exit(exitUsage)
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", "", "host:port to listen on")
	statusFile := fs.String("status-file", "", "file holding the status code to answer with (default 200)")
	_ = fs.Parse(args)
	if *listen == "" || fs.NArg() != 0 {
		usage()
	}
	lc := net.ListenConfig{Control: freebind}
	ln, err := lc.Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			code := status(*statusFile)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			if code == http.StatusOK {
				_, _ = io.WriteString(w, "OK\n")
				return
			}
			_, _ = fmt.Fprintf(w, "%d %s\n", code, http.StatusText(code))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	err = srv.Serve(ln)
	fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
	os.Exit(1)
}

// freebind lets the socket bind to an address the host does not hold.
func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	return serr
}

// status reads the status code from path; 200 when there is none.
func status(path string) int {
	if path == "" {
		return http.StatusOK
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return http.StatusOK
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return http.StatusOK
	}
	code, err := strconv.Atoi(s)
	if err != nil || code < 100 || code > 999 {
		return http.StatusInternalServerError
	}
	return code
}

func get(args []string) int {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Get(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
		return exitNoReply
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	fmt.Printf("%d\n%s", resp.StatusCode, body)
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(os.Stderr, "labservice: reading the body: %v\n", err)
		return exitNoReply
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitStatus
	}
	return exitOK
}

// maxFlows bounds one flows run.
const maxFlows = 100000

func echo(args []string) {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	listen := fs.String("listen", "", "host:port to listen on, UDP and TCP")
	_ = fs.Parse(args)
	if *listen == "" || fs.NArg() != 0 {
		usage()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
		os.Exit(1)
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
				os.Exit(1)
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(host), from)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
			os.Exit(1)
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		_, _ = io.WriteString(c, host)
		_ = c.Close()
	}
}

func flows(args []string) int {
	fs := flag.NewFlagSet("flows", flag.ExitOnError)
	proto := fs.String("proto", "udp", "udp or tcp")
	n := fs.Int("n", 100, "connections to open, one after the other")
	timeout := fs.Duration("timeout", 2*time.Second, "wait for each answer at most this long")
	_ = fs.Parse(args)
	if fs.NArg() != 1 || (*proto != "udp" && *proto != "tcp") || *n < 1 || *n > maxFlows {
		usage()
	}
	res := struct {
		Sources map[string]int `json:"sources"`
		Failed  int            `json:"failed"`
	}{Sources: map[string]int{}}
	buf := make([]byte, 256)
	for range *n {
		src, err := flow(*proto, fs.Arg(0), *timeout, buf)
		if err != nil {
			res.Failed++
			continue
		}
		res.Sources[src]++
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return exitOK
}

// flow is one connection: it asks echo for its source address.
func flow(proto, addr string, timeout time.Duration, buf []byte) (string, error) {
	c, err := net.DialTimeout(proto, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("?")); err != nil {
			return "", err
		}
	}
	k, err := c.Read(buf)
	if err != nil && (k == 0 || !errors.Is(err, io.EOF)) {
		return "", err
	}
	return string(buf[:k]), nil
}

func hold(args []string) int {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	dur := fs.Duration("for", 5*time.Second, "how long to keep the flow")
	every := fs.Duration("every", 100*time.Millisecond, "how often to ask")
	_ = fs.Parse(args)
	if fs.NArg() != 1 || *dur <= 0 || *dur > time.Hour || *every < time.Millisecond {
		usage()
	}
	c, err := net.Dial("udp", fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "labservice: %v\n", err)
		return exitNoReply
	}
	defer c.Close()
	buf := make([]byte, 256)
	for end := time.Now().Add(*dur); time.Now().Before(end); time.Sleep(*every) {
		_ = c.SetDeadline(time.Now().Add(*every * 5))
		if _, err := c.Write([]byte("?")); err != nil {
			fmt.Println("no answer")
			continue
		}
		k, err := c.Read(buf)
		if err != nil {
			fmt.Println("no answer")
			continue
		}
		fmt.Println(string(buf[:k]))
	}
	return exitOK
}
