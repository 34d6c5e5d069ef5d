// Package queue is the twin's queueing functional model (issue 16): it predicts what
// TCP flows get from the queues they cross — throughput, per-link queueing delay and
// loss, per-flow end-to-end delay, jitter and loss — for links whose egress queue is
// per-flow fair (fq), one drop-tail FIFO, or strict-priority / weighted classes of
// drop-tail FIFOs.
//
// Model (see docs/queueing.md for the equations and docs/fidelity.md for how it was
// chosen and how well it does):
//
//   - fq links share by max-min fairness (the allocation models/bottleneck computes,
//     found here by progressive filling over the solver's own arrays, maxmin.go),
//     with each flow capped by what its FIFO links give it;
//   - FIFO links (and each class of a classed link) carry a loss probability p_l;
//     each loss-based flow's rate is its congestion control's response function of
//     its path loss p_f = 1 − Π(1 − p_l) and round-trip time R_f (propagation plus
//     queueing): Padhye et al.'s for Reno, CUBIC's (RFC 9438, with its Reno-friendly
//     region) for CUBIC, both with Padhye's timeout term; p_l is solved so that every
//     FIFO link's load fits its capacity, with p_l = 0 where it is not full (a
//     fixed point found by a damped multiplicative price iteration);
//   - BBR flows are loss-insensitive (BBRv1 ignores loss below ~20%): against
//     loss-based flows they take the rate their in-flight cap gives them over the RTT
//     the full queue sets; on FIFOs carrying only BBR flows they share by max-min,
//     with the standing queue of their in-flight caps;
//   - queueing delay of a full drop-tail queue is the mean fill of its buffer
//     (QueueFill × buffer / capacity), of a link below capacity the M/D/1 wait;
//     jitter is the standard deviation of those delays summed over the path.
//
// The package is pure: no I/O, clocks or globals; results are deterministic.
package queue
