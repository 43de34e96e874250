package cli

import (
	"time"

	"github.com/dmnode/dmnode/node"
)

type TaskStartCmd struct {
	File       string `arg:"" help:"task.yaml; - reads standard input."`
	RemoveMeta bool   `help:"Remove the checkpoints an earlier task of the same name left (on the target and in the cluster) and start afresh."`
}

func (c *TaskStartCmd) Run(g *Globals) error {
	files, err := readFiles([]string{c.File})
	if err != nil {
		return err
	}
	return callAndReportFindings(g, "task.submit", &node.Request{Files: files, RemoveMeta: c.RemoveMeta})
}

type TaskPauseCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *TaskPauseCmd) Run(g *Globals) error {
	return callAndReport(g, "task.pause", &node.Request{Name: c.Name}, 30*time.Second)
}

type TaskResumeCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *TaskResumeCmd) Run(g *Globals) error {
	return callAndReport(g, "task.resume", &node.Request{Name: c.Name}, 30*time.Second)
}

type TaskStopCmd struct {
	Name string `arg:"" help:"Task name."`
}

func (c *TaskStopCmd) Run(g *Globals) error {
	return callAndReport(g, "task.stop", &node.Request{Name: c.Name}, 30*time.Second)
}

type TaskUpdateCmd struct {
	File string `arg:"" help:"The task's new task.yaml; - reads standard input."`
}

func (c *TaskUpdateCmd) Run(g *Globals) error {
	files, err := readFiles([]string{c.File})
	if err != nil {
		return err
	}
	return callAndReport(g, "task.update", &node.Request{Files: files}, time.Minute)
}

type TaskDeleteCmd struct {
	Name  string `arg:"" help:"Task name."`
	Purge bool   `help:"Also remove the task's checkpoints, snapshot stream and rows in the target's dmnode_meta tables."`
}

func (c *TaskDeleteCmd) Run(g *Globals) error {
	return callAndReport(g, "task.delete", &node.Request{Name: c.Name, Purge: c.Purge}, 2*time.Minute)
}
