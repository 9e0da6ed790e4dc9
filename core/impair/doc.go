// Package impair degrades the traffic of a bridge on purpose: it loses,
// delays, duplicates, corrupts and reorders frames, limits their rate and
// size, and takes the link down, each direction on its own. Its words are
// those of Linux tc-netem(8) and VDE wirefilter(1).
//
// A bridge has a left side (its bus) and a right side (its other
// endpoint). Frames travel LR (left to right) or RL; a setting applies to
// one direction or to both.
//
// # Model
//
// The core is a Decider, one per direction: a pure function of the frames
// and their arrival times, its settings and a seed. For each frame it
// decides, in this order:
//
//  1. link: while the link is down (down, or the down part of a flap
//     schedule) the frame is dropped;
//  2. mtu: a frame whose payload after the 14-byte Ethernet header is
//     longer than mtu is dropped;
//  3. loss: the frame is lost (random, Gilbert-Elliott or lostburst);
//  4. duplicate: a second copy is made.
//
// Then, for each copy:
//
//  5. limit: if limit copies are held already, the copy is dropped
//     (drop-tail);
//  6. corrupt flips one random bit of the copy; noise damages each bit
//     with a small probability;
//  7. reorder: the copy may be sent at once, ahead of the held ones;
//  8. otherwise it is due at max(arrival + delay, due time of the
//     previous held copy) + transmission time at the rate.
//
// Step 8 keeps frames in order whatever the jitter (as netem does with a
// rate or a plain FIFO), so only reorder reorders, and it serialises them
// at the rate: a frame waits for the one before it to be sent. With a
// jitter wider than the gap between frames, delays therefore bunch up
// above the distribution's.
//
// Decisions are made once, on arrival; changing the settings affects the
// frames that arrive afterwards and never a frame already scheduled. The
// link state too applies to frames as they arrive: frames held when the
// link goes down are still delivered.
//
// Each direction draws from its own random stream (PCG, seeded by the
// seed and the direction), so the same seed, the same settings and the
// same arrivals give the same decisions bit for bit, whatever the other
// direction does. A probability of 0 draws nothing at all, nor does one of
// 100 %, whatever the correlation: adding "duplicate 0" changes neither
// the decisions nor the random stream.
//
// # Settings
//
// Settings are words; ParseSettings, Settings.Apply and ApplyWords read
// them, Settings.String writes them. A percentage P is written "5%" or "5"
// (both tools read a bare number as a percentage) and may be fractional.
// Times take a unit: Go's (20ms, 1.5s, 100us, 1m30s) or tc's (20msec,
// 100usec, 2sec); a bare number is refused because tc reads it as
// microseconds and wirefilter as milliseconds. An optional argument is
// taken only when the next word has its form. Later words override
// earlier ones.
//
//	loss P [C]              lose frames with probability P (netem; wirefilter
//	                        loss); "loss random P [C]" is the same
//	loss gemodel p [r [1-h [1-k]]]
//	                        Gilbert-Elliott (netem): in the good state a frame
//	                        is lost with probability 1-k, in the bad state
//	                        1-h; after each frame the state turns bad with
//	                        probability p and good again with r. Defaults as
//	                        netem's: r = 1-p, 1-h = 100%, 1-k = 0% (so
//	                        "loss gemodel P" loses like "loss P")
//	lostburst L             with loss P: losses come in runs of L frames on
//	                        average (wirefilter); a Gilbert model with
//	                        p = P/(L(1-P)), r = 1/L, 1-h = 100%, 1-k = 0%,
//	                        which keeps the loss rate P. L is 0 (off) or at
//	                        least 1 and at least P/(1-P)
//	delay TIME [JITTER [C]] hold frames TIME plus a random part of scale JITTER
//	                        (netem)
//	distribution NAME       shape of the random part (netem): uniform (the
//	                        default: TIME ± JITTER, flat), normal (JITTER is
//	                        the standard deviation), pareto (alpha 3: TIME +
//	                        JITTER·(4/3)(U^(-1/3) - 3/2), a long tail above),
//	                        paretonormal (¼ normal + ¾ pareto at the same
//	                        quantile, as iproute2's table). As netem's 16-bit
//	                        tables, the random part stays within -4 and +4
//	                        JITTER; a delay below 0 counts as 0
//	duplicate P [C]         send one extra copy (netem; "dup" as wirefilter)
//	corrupt P [C]           flip one random bit of the copy (netem)
//	noise N                 damage N bits per MiB on average: each bit flips
//	                        with probability N/(8·2^20) (wirefilter)
//	reorder P [C]           send the copy at once, ahead of the held ones
//	gap N                   reorder only after N-1 copies were held (netem;
//	                        0 and 1 mean every copy may be reordered)
//	rate RATE [OVERHEAD]    serialise at RATE, counting OVERHEAD more bytes per
//	                        frame, negative for fewer (netem). Units as tc:
//	                        bit kbit mbit gbit tbit (×1000), kibit mibit gibit
//	                        tibit (×1024), bps kbps mbps gbps tbps and kibps
//	                        ... for bytes per second. "rate 0" turns it off
//	limit N                 hold at most N copies at once (scheduled and not
//	                        yet due); more are dropped (netem). 0: no limit
//	mtu N                   drop frames whose payload after the 14-byte
//	                        Ethernet header exceeds N bytes, so "mtu 1500"
//	                        passes full-size untagged frames (wirefilter
//	                        counts the whole frame). 0: no limit
//	down, up                take the link down or up
//	flap PERIOD DUTY        from now on, in each PERIOD the link is up for
//	                        the share DUTY (a percentage) of it, then down
//	flap off                no schedule
//	none                    every setting back to nothing
//
// Reordering needs frames held to overtake: like netem, "delay 10ms
// reorder 25% 50%" sends 25 % of the frames at once (with a correlation of
// 50 %) and delays the rest by 10ms, and "delay 10ms reorder 25% gap 5"
// delays four frames, then lets each frame go at once with probability 25 %
// until one does, and starts again; "reorder 100% gap 5" sends exactly
// every fifth frame at once. A reordered copy skips the delay, the rate
// and the queue. Without delay or rate nothing is held, so a reordered
// frame overtakes nothing, although it is counted.
//
// A correlation C (a percentage, optional after loss, duplicate, corrupt,
// reorder and the delay's jitter) makes successive decisions alike: each
// draw repeats the previous draw of the same setting with probability C.
// Unlike netem's correlation this keeps the probabilities what they are
// set to.
//
// # Running stage
//
// A Stage runs two Deciders on the real clock. Input decides a frame at
// once and keeps a copy (from a pool, so the steady state allocates
// nothing); one goroutine with one timer (a timerfd on Linux, whose
// wake-ups come within microseconds; a time.Timer elsewhere, up to a
// millisecond late) hands due copies to the Sink in due order, in batches
// when several are due. Changes come from Stage.Set, Stage.Apply and the
// control commands.
//
// # Control
//
// Stage.ServeControl answers connections (from ListenControl: a unix
// socket of exactly the mode asked, 0600 usually) one command per line;
// Stage.Command runs one line. A reply is lines of data then "ok", or a
// single line "error: ..." when nothing was changed. DIR is LR, RL or
// both, both when left out.
//
//	help                     the commands and setting words
//	show [DIR]               "seed N", then per direction "LR WORDS...",
//	                         words that set accepts
//	set [DIR] WORDS...       change settings; LR, RL and both inside WORDS
//	                         choose the direction of the words after them
//	                         ("set delay 10ms LR loss 1%"); all or nothing
//	flap [DIR] down|up       take the link down or up now
//	flap [DIR] PERIOD DUTY   flap on a schedule (as the words)
//	flap [DIR] off           no schedule, link up
//	counters [DIR] [reset]   per direction "LR in=F/B out=F/B queued=F/B
//	                         lost=F/B duplicated=F/B corrupted=F/B
//	                         reordered=F/B delayed=F/B limit=F/B mtu=F/B
//	                         down=F/B closed=F/B" (frames/bytes); reset sets
//	                         them to zero after showing them
//	quit                     close the connection
//
// # Accounting
//
// Counters count frames and bytes per direction and per cause. At every
// moment In - Lost - Dropped() + Duplicated = Out + Queued; when nothing
// is queued, the frames out are the frames in, less those lost or dropped,
// plus the duplicates.
//
// SetLog writes one line per frame, written when the frame arrives:
//
//	LR 17 at=1.250000000 len=60 out due=1.260000000
//	LR 18 at=1.251000000 len=60 drop=loss
//	LR 19 at=1.252000000 len=98 out due=1.252000000 reordered dup due=1.262000000 corrupted=1
//	LR 20 at=1.253000000 len=60 out drop=limit
//
// that is the direction, the frame's number in it (from 1), its arrival
// and length, then either drop=down, drop=mtu or drop=loss, or for each
// copy ("out", then "dup" for the duplicate) drop=limit or its due time
// and what was done to it. Times are seconds on the Decider's clock; a
// Stage's clock starts at New.
package impair
