package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/fsutil"
)

// fileOutbox keeps queued messages as one file per message in a directory
// of the user's home, each written atomically and synced before Put
// returns. A lock file serialises delivery between processes.
type fileOutbox struct {
	dir  string
	lock string
}

func newFileOutbox(userDir string) *fileOutbox {
	return &fileOutbox{dir: filepath.Join(userDir, "outbox"), lock: filepath.Join(userDir, "outbox.lock")}
}

func (o *fileOutbox) path(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return "", fmt.Errorf("outbox: bad id %q", id)
	}
	return filepath.Join(o.dir, id+".json"), nil
}

func (o *fileOutbox) Put(id string, data []byte) error {
	p, err := o.path(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := fsutil.WriteFileAtomic(p, data, 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

func (o *fileOutbox) Delete(id string) error {
	p, err := o.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Empty reports whether the outbox holds no entry, reading no more of the
// directory than its first few names.
func (o *fileOutbox) Empty() (bool, error) {
	d, err := os.Open(o.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(8)
		for _, n := range names {
			if strings.HasSuffix(n, ".json") {
				return false, nil
			}
		}
		if err == io.EOF || len(names) == 0 {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("outbox: %w", err)
		}
	}
}

func (o *fileOutbox) List() (map[string][]byte, error) {
	ents, err := os.ReadDir(o.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	out := make(map[string][]byte, len(ents))
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		out[id] = b
	}
	return out, nil
}

func (o *fileOutbox) TryLock() (unlock func(), ok bool, err error) {
	if err := os.MkdirAll(filepath.Dir(o.lock), 0o700); err != nil {
		return nil, false, err
	}
	release, ok, err := fsutil.TryLockFile(o.lock)
	if err != nil {
		return nil, false, fmt.Errorf("outbox lock: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() { release() }, true, nil
}

// deliverInBackground delivers the outbox while a command that sends runs,
// so that what waits goes out as soon as the cluster answers, before the
// messages queued after it. stop ends it and waits for it.
func (a *App) deliverInBackground(ctx context.Context, s *chat.Service) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunOutbox(ctx, func(m chat.Message) {
			a.note("parley: delivered queued message %s to %s", m.ID, m.Room)
		})
	}()
	return func() { cancel(); <-done }
}

// flushOutbox delivers what still waits in the outbox before a command
// that sent exits, unless the cluster was just found unavailable, and says
// what is left.
func (a *App) flushOutbox(ctx context.Context, s *chat.Service) {
	done, waiting, err := s.FlushOutbox(ctx)
	for _, m := range done {
		a.note("parley: delivered queued message %s to %s", m.ID, m.Room)
	}
	if err != nil {
		a.logger().Info("outbox delivery deferred", "err", err)
	}
	switch {
	case waiting == 1:
		a.note("parley: 1 message waits in the outbox for the cluster; the next send delivers it (parley outbox lists it)")
	case waiting > 1:
		a.note("parley: %d messages wait in the outbox for the cluster; the next send delivers them (parley outbox lists them)", waiting)
	}
}

func (a *App) outboxCmd() *cobra.Command {
	var asJSON, deliver bool
	c := &cobra.Command{
		Use:   "outbox",
		Short: "List messages queued while the cluster was unavailable",
		Long: `Messages sent while the cluster has no quorum wait in an outbox in your
home and are delivered, each exactly once and in order, as soon as the
cluster answers, by a parley that sends: the next send (before its own
message), a running send -, read --follow or chat. outbox --deliver
delivers them now; each message gets --timeout, however many wait.`,
		Example: `  parley outbox
  parley outbox --deliver`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if deliver {
				// A slow cluster takes a long outbox: each message gets
				// the timeout, the drain as a whole is not bounded.
				a.deliverWait = a.cfg.Timeout
			}
			return a.withService(cmd, func(_ context.Context, s *chat.Service) error {
				if deliver {
					done, err := s.DeliverOutbox(cmd.Context())
					for _, m := range done {
						a.note("parley: delivered %s to %s", m.ID, m.Room)
					}
					if err != nil {
						return err
					}
				}
				pending, err := s.Pending()
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				for _, m := range pending {
					if asJSON {
						if err := printJSON(w, messageJSON(m)); err != nil {
							return err
						}
						continue
					}
					status := "pending"
					if m.Rejected != "" {
						status = "failed: " + m.Rejected
					}
					fmt.Fprintf(w, "%s  %s  %s: %s (%s)\n", m.Time.Local().Format("2006-01-02 15:04:05"), m.Room, m.Sender, m.Text, status)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	c.Flags().BoolVar(&deliver, "deliver", false, "try to deliver the queued messages now")
	return c
}
