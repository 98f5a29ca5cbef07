//! `cargo test` for zmq_drain.rs: the drain's rules over a queue (no socket), and
//! the library check.

use super::*;
use std::collections::VecDeque;

struct Queue {
    frames: VecDeque<(Vec<u8>, bool)>,
    end: Stop,
    current: Vec<u8>,
}

impl Queue {
    fn new(frames: &[(&[u8], bool)], end: Stop) -> Queue {
        let frames = frames.iter().map(|(d, m)| (d.to_vec(), *m)).collect();
        Queue {
            frames,
            end,
            current: Vec::new(),
        }
    }
}

impl Source for Queue {
    fn recv(&mut self) -> Result<(&[u8], bool), Stop> {
        let (data, more) = self.frames.pop_front().ok_or(self.end)?;
        self.current = data;
        Ok((&self.current, more))
    }
}

/// Records what the drain did; a frame `[...]` holds as many messages as
/// it has commas plus one; the frame `panic` panics.
#[derive(Default)]
struct Log {
    applied: Vec<(Vec<u8>, f64)>,
    rejected: Vec<(&'static str, Option<Vec<u8>>)>,
    clock: f64,
}

impl Sink for Log {
    fn received(&mut self) -> f64 {
        self.clock += 1.0;
        self.clock
    }
    fn frame(&mut self, data: &[u8], recv: f64) -> usize {
        assert!(data != b"panic", "a bug");
        self.applied.push((data.to_vec(), recv));
        if data.first() == Some(&b'[') {
            data.iter().filter(|b| **b == b',').count() + 1
        } else {
            1
        }
    }
    fn reject(&mut self, reason: &'static str, data: Option<&[u8]>) {
        self.rejected.push((reason, data.map(<[u8]>::to_vec)));
    }
}

fn run(
    frames: &[(&[u8], bool)],
    first: Option<(&[u8], bool)>,
    carry: bool,
    budget: usize,
) -> (Drained, Log) {
    let mut queue = Queue::new(frames, Stop::Again);
    let mut log = Log::default();
    let out = drain(&mut queue, &mut log, first, carry, budget, 10);
    (out, log)
}

#[test]
fn frames_in_order_each_with_its_receive_time_first_one_first() {
    let (out, log) = run(
        &[(b"b", false), (b"c", false)],
        Some((b"a", false)),
        false,
        100,
    );
    assert_eq!(
        out,
        Drained {
            messages: 3,
            in_multipart: false,
            errno: 0
        }
    );
    let applied: Vec<_> = log
        .applied
        .iter()
        .map(|(d, t)| (d.as_slice(), *t))
        .collect();
    assert_eq!(applied, [(&b"a"[..], 1.0), (b"b", 2.0), (b"c", 3.0)]);
    assert!(log.rejected.is_empty());
}

#[test]
fn multipart_parts_are_rejected_and_a_message_straddles_two_drains() {
    let frames: &[(&[u8], bool)] = &[(b"good", false), (b"p1", true), (b"p2", true)];
    let (out, log) = run(frames, None, false, 100);
    assert_eq!(
        out,
        Drained {
            messages: 3,
            in_multipart: true,
            errno: 0
        }
    );
    assert_eq!(log.applied.len(), 1);
    // The next drain starts inside the message: its last part is rejected too.
    let (out, log) = run(
        &[(b"p3", false), (b"after", false)],
        None,
        out.in_multipart,
        100,
    );
    assert_eq!(
        out,
        Drained {
            messages: 2,
            in_multipart: false,
            errno: 0
        }
    );
    assert_eq!(log.rejected, [(MULTIPART, Some(b"p3".to_vec()))]);
    assert_eq!(log.applied.len(), 1);
}

#[test]
fn too_large_frames_are_rejected_neighbours_applied() {
    let frames: &[(&[u8], bool)] = &[(b"0123456789x", false), (b"0123456789", false)];
    let (out, log) = run(frames, None, false, 100);
    assert_eq!(out.messages, 2);
    assert_eq!(log.rejected, [(TOO_LARGE, Some(b"0123456789x".to_vec()))]);
    assert_eq!(log.applied.len(), 1);
}

#[test]
fn the_budget_counts_batch_elements_and_stops_the_drain() {
    let frames: &[(&[u8], bool)] = &[(b"[1,2,3]", false), (b"x", false), (b"left", false)];
    let mut queue = Queue::new(frames, Stop::Again);
    let mut log = Log::default();
    let out = drain(&mut queue, &mut log, None, false, 4, 10);
    assert_eq!(out.messages, 4);
    assert_eq!(log.applied.len(), 2);
    assert_eq!(queue.frames.len(), 1, "the rest waits for the next drain");
}

#[test]
fn a_panic_costs_its_frame_and_the_drain_goes_on() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (out, log) = run(&[(b"panic", false), (b"ok", false)], None, false, 100);
    std::panic::set_hook(quiet);
    assert_eq!(out.messages, 2);
    assert_eq!(log.rejected, [(INTERNAL_ERROR, None)]);
    assert_eq!(log.applied.len(), 1);
}

#[test]
fn eintr_ends_the_drain_quietly_and_other_errors_are_reported() {
    for (errno, expected) in [(4, 0), (11, 0), (156_384_765, 156_384_765), (9, 9)] {
        let mut queue = Queue::new(&[(b"a", false)], Stop::from_errno(errno));
        let mut log = Log::default();
        let out = drain(&mut queue, &mut log, None, false, 100, 10);
        assert_eq!((out.messages, out.errno), (1, expected), "errno {errno}");
    }
    assert_eq!(Stop::from_errno(11), Stop::Again);
    assert_eq!(Stop::from_errno(4), Stop::Interrupted);
}

#[test]
fn a_library_without_the_functions_is_refused() {
    // SAFETY: libc's initialisers have run (it is loaded); no libzmq function is looked up in it.
    let missing = unsafe { Api::load("libc.so.6") };
    assert!(missing.is_err());
    assert!(unsafe { Api::load("/nonexistent/libzmq.so.5") }.is_err());
}
