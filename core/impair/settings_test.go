package impair

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseSettingsWords(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		words string
		want  Settings
	}{
		{"", Settings{}},
		{"none", Settings{}},
		{"loss 5%", Settings{Loss: Loss{P: 0.05}}},
		{"loss 5", Settings{Loss: Loss{P: 0.05}}}, // netem and wirefilter read percentages
		{"loss random 0.5% 25%", Settings{Loss: Loss{P: 0.005, Corr: 0.25}}},
		{"loss 10% lostburst 3.5", Settings{Loss: Loss{P: 0.1, Burst: 3.5}}},
		// netem's gemodel defaults: r = 1-p, 1-h = 100%, 1-k = 0%.
		{"loss gemodel 1%", Settings{Loss: Loss{GE: GilbertElliott{P: 0.01, R: 0.99, Bad: 1}}}},
		{"loss gemodel 1% 30%", Settings{Loss: Loss{GE: GilbertElliott{P: 0.01, R: 0.3, Bad: 1}}}},
		{"loss gemodel 1% 30% 80%", Settings{Loss: Loss{GE: GilbertElliott{P: 0.01, R: 0.3, Bad: 0.8}}}},
		{"loss gemodel 1% 30% 80% 2%", Settings{Loss: Loss{GE: GilbertElliott{P: 0.01, R: 0.3, Bad: 0.8, Good: 0.02}}}},
		{"loss 5% loss gemodel 1%", Settings{Loss: Loss{GE: GilbertElliott{P: 0.01, R: 0.99, Bad: 1}}}},
		{"loss gemodel 1% loss 5%", Settings{Loss: Loss{P: 0.05}}},
		{"delay 20ms", Settings{Delay: Delay{Time: 20 * ms}}},
		{"delay 20ms 5ms", Settings{Delay: Delay{Time: 20 * ms, Jitter: 5 * ms}}},
		{"delay 20msec 5000usec 25% distribution normal", Settings{Delay: Delay{Time: 20 * ms, Jitter: 5 * ms, Corr: 0.25, Dist: Normal}}},
		{"distribution paretonormal delay 1s 1.5ms", Settings{Delay: Delay{Time: time.Second, Jitter: 1500 * time.Microsecond, Dist: ParetoNormal}}},
		{"delay 10ms 5ms 50% delay 1ms", Settings{Delay: Delay{Time: ms}}}, // each delay replaces the last
		{"duplicate 1% 10%", Settings{Duplicate: Chance{0.01, 0.1}}},
		{"dup 2", Settings{Duplicate: Chance{P: 0.02}}},
		{"corrupt 0.1%", Settings{Corrupt: Chance{P: 0.001}}},
		{"noise 12.5", Settings{Noise: 12.5}},
		{"reorder 25% 50% gap 5", Settings{Reorder: Chance{0.25, 0.5}, Gap: 5}},
		{"rate 10mbit", Settings{Rate: Rate{Bits: 10_000_000}}},
		{"rate 1.5gbit 24", Settings{Rate: Rate{Bits: 1_500_000_000, Overhead: 24}}},
		{"rate 100kbps -4", Settings{Rate: Rate{Bits: 800_000, Overhead: -4}}},
		{"rate 1mibit", Settings{Rate: Rate{Bits: 1 << 20}}},
		{"rate 10mbit 4 rate 0", Settings{}},
		{"limit 1000 mtu 1500", Settings{Limit: 1000, MTU: 1500}},
		{"down", Settings{Down: true}},
		{"down up", Settings{}},
		{"flap 10s 80%", Settings{Flap: Flap{Period: 10 * time.Second, Duty: 0.8}}},
		{"flap 10s 80% flap off", Settings{}},
		{"LOSS 5% Distribution Normal", Settings{Loss: Loss{P: 0.05}, Delay: Delay{Dist: Normal}}},
		{"loss 5% none delay 1ms", Settings{Delay: Delay{Time: ms}}},
	} {
		got, err := ParseSettings(tc.words)
		if err != nil {
			t.Errorf("%q: %v", tc.words, err)
		} else if got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.words, got, tc.want)
		}
	}
}

func TestSettingsStringRoundTrip(t *testing.T) {
	for _, words := range []string{
		"none",
		"loss 5%",
		"loss 0% 25%",
		"loss 7% lostburst 2.5",
		"loss gemodel 1.5% 30% 80% 2%",
		"delay 20ms",
		"delay 0s 1ms 10%",
		"delay 1m30s 1.5ms distribution pareto",
		"distribution normal",
		"duplicate 1% 10% corrupt 0.1% noise 12.5",
		"reorder 25% 50% gap 5",
		"gap 3",
		"rate 10mbit 24 limit 1000 mtu 1500",
		"rate 1234567bit",
		"rate 1500kbit -4",
		"down flap 10s 80%",
		mixed,
	} {
		s, err := ParseSettings(words)
		if err != nil {
			t.Fatalf("%q: %v", words, err)
		}
		again, err := ParseSettings(s.String())
		if err != nil || again != s {
			t.Errorf("%q reads back from %q as %+v, %v", words, s.String(), again, err)
		}
		if s.String() != words {
			t.Logf("%q is written %q", words, s.String())
		}
	}
}

func TestParseSettingsRefuses(t *testing.T) {
	for _, words := range []string{
		"loss", "loss 101%", "loss -1", "loss x", "loss 5% 200%", "loss NaN", "loss state 1%",
		"loss gemodel", "loss gemodel 120%", "lostburst", "lostburst 0.5", "lostburst -1",
		"loss 50% lostburst 0.9", "loss 90% lostburst 8", "loss 5% 1% lostburst 2",
		"loss gemodel 1% lostburst 2",
		"delay", "delay 5", "delay -5ms", "delay five", "delay 5ms -1ms", "delay 1e400ms",
		"distribution", "distribution cauchy", "duplicate", "dup 1000", "corrupt 5%%",
		"noise", "noise -1", "noise 1e99", "noise Inf", "reorder", "gap", "gap -1", "gap 1.5",
		"rate", "rate 10", "rate mbit", "rate 10mbps/s", "rate -1mbit", "rate 0.1bit",
		"rate 1e30bit", "limit", "limit -1", "mtu", "mtu 1500B", "flap", "flap 10s",
		"flap 0s 50%", "flap -1s 50%", "flap 10s 101%", "flap 10 50%", "flap on",
		"bogus", "LR loss 5%", "loss 5% both",
	} {
		s, err := ParseSettings(words)
		if err == nil {
			t.Errorf("%q was accepted as %+v", words, s)
		} else if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%q: %v does not unwrap to EINVAL", words, err)
		}
	}
}

func TestApplyWordsChoosesDirections(t *testing.T) {
	lr, rl, err := ApplyWords(Settings{}, Settings{MTU: 900},
		strings.Fields("delay 10ms LR loss 5% RL duplicate 1% both mtu 1400 rl limit 9"))
	if err != nil {
		t.Fatal(err)
	}
	wantLR := Settings{Delay: Delay{Time: 10 * time.Millisecond}, Loss: Loss{P: 0.05}, MTU: 1400}
	wantRL := Settings{Delay: Delay{Time: 10 * time.Millisecond}, Duplicate: Chance{P: 0.01}, MTU: 1400, Limit: 9}
	if lr != wantLR || rl != wantRL {
		t.Errorf("LR %v\nRL %v", lr, rl)
	}
	// Nothing changes on error, even after good words.
	for _, words := range []string{"loss 5% LR delay", "LR loss 5% RL loss 5% 3% lostburst 2", "", "LR", "loss 1% RL both mtu 1"} {
		a, b, err := ApplyWords(lr, rl, strings.Fields(words))
		if err == nil || a != lr || b != rl {
			t.Errorf("%q: %v, settings changed: %v", words, err, a != lr || b != rl)
		}
	}
}

func TestValidateRefusesOutOfRange(t *testing.T) {
	for _, s := range []Settings{
		{Loss: Loss{P: 1.1}}, {Loss: Loss{Corr: -0.1}}, {Loss: Loss{GE: GilbertElliott{P: 2}}},
		{Loss: Loss{P: 0.1, GE: GilbertElliott{P: 0.1, R: 0.9, Bad: 1}}},
		{Delay: Delay{Time: -1}}, {Delay: Delay{Jitter: -1}}, {Delay: Delay{Dist: 9}},
		{Duplicate: Chance{P: 2}}, {Corrupt: Chance{Corr: 2}}, {Reorder: Chance{P: -1}},
		{Noise: -1}, {Gap: -1}, {Limit: -1}, {MTU: -1}, {Flap: Flap{Period: -1}}, {Flap: Flap{Duty: 1.5}},
	} {
		if err := s.Validate(); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

func TestDirWords(t *testing.T) {
	for _, d := range []Dir{LR, RL, Both} {
		got, err := ParseDir(strings.ToLower(d.String()))
		if err != nil || got != d {
			t.Errorf("%v: %v %v", d, got, err)
		}
	}
	if _, err := ParseDir("left"); err == nil {
		t.Error("ParseDir(left) worked")
	}
}
