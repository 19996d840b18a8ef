package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// CPU accounting, so that a figure from a busy machine can be told from a
// slow transfer: each loopback round says the CPU time ferry's processes and
// the baseline spent, and what every other process on the machine took
// meanwhile.

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the busy CPU time of the whole machine so far (all but
// idle and iowait).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// cpuMeter measures, from start to stop, the CPU of the processes it is
// given and of the whole machine.
type cpuMeter struct {
	pids    []int
	procs   []time.Duration
	self    time.Duration
	machine time.Duration
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, self: selfCPU(), machine: machineCPU()}
	for _, p := range pids {
		m.procs = append(m.procs, transfertest.ProcessCPU(p))
	}
	return m
}

// stop returns the CPU the processes used, this process used, and the
// whole machine used since start.
func (m *cpuMeter) stop() (procs, self, machine time.Duration) {
	for i, p := range m.pids {
		procs += transfertest.ProcessCPU(p) - m.procs[i]
	}
	return procs, selfCPU() - m.self, machineCPU() - m.machine
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s" }
