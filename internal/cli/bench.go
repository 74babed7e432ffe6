package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
)

func (a *App) benchCmd() *cobra.Command {
	var asJSON bool
	var messages, history, textBytes int
	var conc string
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure chat sends, delivery and history reads against raw etcd, in one run",
		Long: `Measure Parley against the etcd beneath it, in one run, on the configured
cluster (or on a fresh embedded member in a temporary directory when no
--endpoints are given):

  - raw etcd puts and Parley sends (encrypt, sign, write) of the same size,
    interleaved, at each concurrency: throughput, p50 and p99, and the ratio;
  - raw put-to-watch latency next to end-to-end delivery (sent until a second
    client has verified and decrypted it);
  - the time to show the newest 50 messages of a room of --history messages,
    to read, verify and decrypt all of them in a fresh client process, and to
    read them again in a reopened client; that client's peak RSS;
  - this machine's Ed25519 verification limit (cores x verifications/s).

The benchmark's users, rooms (with their messages) and raw keys are
throwaway: they are deleted at the end, also when the run fails or is
interrupted, so a shared cluster keeps nothing of it.`,
		Example: `  parley bench
  parley bench --messages 4000 --history 20000 --concurrency 1,8,32 --json
  parley --endpoints 127.0.0.1:2379 bench`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var levels []int
			for _, f := range splitList(conc) {
				n, err := strconv.Atoi(f)
				if err != nil || n < 1 || n > 1024 {
					return usagef("--concurrency: %q is not a number from 1 to 1024", f)
				}
				levels = append(levels, n)
			}
			if messages < 1 || history < 0 {
				return usagef("--messages must be positive and --history not negative")
			}
			res, err := a.runBench(cmd.Context(), bench.Config{
				Messages: messages, History: history, Concurrency: levels, TextBytes: textBytes,
			}, history == 0)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&asJSON, "json", false, "print the results as one JSON object")
	f.IntVar(&messages, "messages", 8000, "sends (and raw puts) per concurrency level")
	f.IntVar(&history, "history", 100000, "messages in the history room (0: skip)")
	f.StringVar(&conc, "concurrency", "1,16", "comma-separated concurrency levels")
	f.IntVar(&textBytes, "text-bytes", 200, "message text size in bytes")
	return c
}

func (a *App) runBench(ctx context.Context, cfg bench.Config, noHistory bool) (*bench.Result, error) {
	tmp, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	progress := func(format string, args ...any) {
		fmt.Fprintf(a.env.Stderr, "bench: "+format+"\n", args...)
	}
	cfg.Progress = progress
	if noHistory {
		cfg.History = -1
	}
	eps := a.cfg.Endpoints
	if len(eps) == 0 {
		n, err := startBenchMember(ctx, filepath.Join(tmp, "etcd"))
		if err != nil {
			return nil, err
		}
		defer n.Close()
		eps = n.ClientURLs()
		progress("fresh embedded etcd member at %s", eps[0])
	}
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if len(a.cfg.Endpoints) > 0 {
		// A cluster of the user's own keeps nothing of the run: bench.Run
		// removes its rooms, and the users go here, also after an
		// interrupt (a fresh member is thrown away whole).
		st, err := a.Store(ctx)
		if err != nil {
			return nil, err
		}
		users := []names.User{names.User("bench-w" + tag), names.User("bench-r" + tag)} // canonical: a prefix and a base-36 tag
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bench.CleanupTimeout)
			defer cancel()
			if err := st.Purge(cctx, nil, users); err != nil {
				progress("could not remove the benchmark's users %v: %v", users, err)
				return
			}
			progress("removed the benchmark's users %v", users)
		}()
	}
	open := func(user string) (*chat.Service, *App, error) {
		b := &App{env: &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }},
			cfg: Config{Endpoints: eps, Home: tmp, User: user, Timeout: a.cfg.Timeout, CACert: a.cfg.CACert, Cert: a.cfg.Cert, Key: a.cfg.Key, EtcdUser: a.cfg.EtcdUser, EtcdPassword: a.cfg.EtcdPassword}}
		s, err := b.Login(ctx, user, []byte{})
		return s, b, err
	}
	sender, sa, err := open("bench-w" + tag)
	if err != nil {
		return nil, err
	}
	defer sa.close()
	readerName := "bench-r" + tag
	reader, ra, err := open(readerName)
	if err != nil {
		return nil, err
	}
	defer ra.close()
	cfg.ReadHistory = func(ctx context.Context, room names.Room) (bench.HistoryResult, error) {
		return a.readInChild(ctx, tmp, eps, readerName, string(room))
	}
	res, err := bench.Run(ctx, bench.Users{Sender: sender, Reader: reader, SenderStore: sa.st, ReaderStore: ra.st}, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return res, nil
}

func startBenchMember(ctx context.Context, dir string) (*node.Node, error) {
	for attempt := 0; attempt < 5; attempt++ {
		urls, err := node.FreeLoopbackURLs(2)
		if err != nil {
			return nil, err
		}
		d := filepath.Join(dir, strconv.Itoa(attempt))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		n, err := node.Start(ctx, node.Config{
			Name: "bench", DataDir: filepath.Join(d, "data"),
			ListenClientURLs: []string{urls[0]}, ListenPeerURLs: []string{urls[1]},
			LogFile: filepath.Join(d, "etcd.log"),
		}, nil)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		return n, err
	}
	return nil, errors.New("bench: no free loopback ports")
}

// readInChild reads the history room in a separate parley process, so its
// time and peak memory are those of a client that only reads.
func (a *App) readInChild(ctx context.Context, home string, eps []string, user, room string) (bench.HistoryResult, error) {
	var h bench.HistoryResult
	exe, err := os.Executable()
	if err != nil {
		return h, err
	}
	args := []string{"--home", home, "--endpoints", strings.Join(eps, ","), "--user", user, "--timeout", "10m"}
	for _, f := range [][2]string{{"--cacert", a.cfg.CACert}, {"--cert", a.cfg.Cert}, {"--key", a.cfg.Key}} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	cmd := exec.CommandContext(ctx, exe, append(args, "bench-read", room)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// The etcd credentials go by environment, not on a command line that
	// other users of the machine can read.
	cmd.Env = append(os.Environ(), "PARLEY_PASSPHRASE=", "PARLEY_ETCD_USER="+a.cfg.EtcdUser, "PARLEY_ETCD_PASSWORD="+a.cfg.EtcdPassword)
	if err := cmd.Run(); err != nil {
		return h, fmt.Errorf("history reader: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &h); err != nil {
		return h, fmt.Errorf("history reader output: %w", err)
	}
	return h, nil
}

// benchReadCmd is the reading client of `parley bench`.
func (a *App) benchReadCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-read ROOM",
		Short:  "Read a room's whole history and report timings as JSON (used by bench)",
		Hidden: true,
		Args:   args(1, "a room"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, cancel := a.op(cmd)
			defer cancel()
			s, err := a.Service(ctx)
			if err != nil {
				return err
			}
			reopen := func(ctx context.Context) (*chat.Service, error) {
				b := &App{env: a.env, cfg: a.cfg}
				return b.Login(ctx, a.cfg.User, nil)
			}
			room, err := s.ParseRoom(argv[0])
			if err != nil {
				return err
			}
			h, err := bench.ReadHistory(ctx, s, room, reopen)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), h)
		},
	}
}

func printBench(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "concurrency\tput/s\tsend/s\tratio\tput p50 ms\tput p99 ms\tsend p50 ms\tsend p99 ms\t\n")
	for _, x := range r.Runs {
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", x.Concurrency, x.PutPerS, x.SendPerS, x.Ratio, x.PutP50Ms, x.PutP99Ms, x.SendP50Ms, x.SendP99Ms)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nput-to-watch p50 %.2f ms, p99 %.2f ms; end-to-end p50 %.2f ms, p99 %.2f ms\n", r.WatchP50Ms, r.WatchP99Ms, r.E2EP50Ms, r.E2EP99Ms)
	if r.Messages > 0 {
		fmt.Fprintf(w, "history of %d messages: newest 50 in %.1f ms; all verified and decrypted at %.0f/s (%.2fx the verify limit of %.0f/s); reopened at %.0f/s; reader peak RSS %.0f MB\n",
			r.Messages, r.LastPageMs, r.HistoryPerS, r.HistoryPerS/r.VerifyLimitPerS, r.VerifyLimitPerS, r.ReopenPerS, r.RSSMB)
	} else {
		fmt.Fprintf(w, "verify limit: %.0f Ed25519 verifications/s on %d cores\n", r.VerifyLimitPerS, r.Cores)
	}
	fmt.Fprintf(w, "envelope: %d bytes for a %d-byte text (overhead %d bytes)\n", r.EnvelopeBytes, r.EnvelopeBytes-r.EnvelopeOverheadBytes, r.EnvelopeOverheadBytes)
}
