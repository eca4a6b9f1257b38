//! A userspace link emulator for tests: a UDP forwarder on loopback between a
//! field client and the relay that imposes, per direction, packet loss,
//! duplication, reordering, delay with jitter, a bandwidth cap and outages.
//! (netem is not available on these machines and needs root; this does not.)
//!
//! Decisions come from a seeded generator, so a run's impairments are
//! reproducible from its seed (timing on a loaded machine still varies).

use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Rng;

/// Largest UDP payload forwarded (QUIC never sends more than this).
const MAX_DATAGRAM: usize = 65_535;

/// How often a blocked receive wakes up to check whether the emulator stopped.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What one direction of the link does to packets.
#[derive(Clone, Debug, Default)]
pub struct Impairments {
    /// Chance (0.0–1.0) that a packet is dropped.
    pub loss: f64,
    /// Chance that a packet is delivered twice.
    pub duplicate: f64,
    /// Chance that a packet is held back by `reorder_by`, so later ones overtake it.
    pub reorder: f64,
    pub reorder_by: Duration,
    /// One-way delay, plus a uniformly random extra of up to `jitter`.
    pub delay: Duration,
    pub jitter: Duration,
    /// Bytes per second the link carries (0: unlimited); packets queue behind it.
    pub bytes_per_second: u64,
    /// Intervals, measured from the emulator's start, when the link is down.
    pub outages: Vec<(Duration, Duration)>,
    /// Packets (numbered from 0 in this direction) that are always dropped, so a
    /// test of loss loses packets whatever its seed.
    pub drop_packets: Vec<u64>,
}

impl Impairments {
    /// A rural mobile link: `bytes_per_second`, `rtt` round trip (half each
    /// way), some jitter, and `loss`.
    pub fn rural(bytes_per_second: u64, rtt: Duration, loss: f64) -> Impairments {
        Impairments {
            loss,
            delay: rtt / 2,
            jitter: rtt / 10,
            bytes_per_second,
            ..Impairments::default()
        }
    }

    fn is_down(&self, since_start: Duration) -> bool {
        self.outages
            .iter()
            .any(|(from, to)| (*from..*to).contains(&since_start))
    }
}

/// Bytes that crossed the link, counted as delivered (after loss).
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub up_bytes: AtomicU64,
    pub down_bytes: AtomicU64,
    pub dropped: AtomicU64,
}

/// Outages added while running ([`LinkEmulator::outage`]): (from, to), both ways.
type Outages = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// A running emulator; stops (and joins its threads) when dropped.
#[derive(Debug)]
pub struct LinkEmulator {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    outages: Outages,
    /// The socket towards the relay ([`LinkEmulator::redirect`]).
    relay_side: Arc<UdpSocket>,
    pub counters: Arc<LinkCounters>,
}

impl LinkEmulator {
    /// Starts forwarding from a new loopback port to `upstream`.
    pub fn start(upstream: SocketAddr, up: Impairments, down: Impairments, seed: u64) -> Self {
        let client_side = UdpSocket::bind("127.0.0.1:0").expect("bind the emulator's port");
        let relay_side = UdpSocket::bind("127.0.0.1:0").expect("bind the emulator's relay side");
        relay_side.connect(upstream).expect("connect to the relay");
        for socket in [&client_side, &relay_side] {
            socket
                .set_read_timeout(Some(POLL_INTERVAL))
                .expect("read timeout");
        }
        let addr = client_side.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LinkCounters::default());
        let client_addr: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let outages: Outages = Arc::default();
        let started = Instant::now();
        let (client_side, relay_side) = (Arc::new(client_side), Arc::new(relay_side));

        let up_queue = Arc::new(Queue::default());
        let down_queue = Arc::new(Queue::default());
        let mut threads = Vec::new();
        // Client → relay.
        let (recv, q, s, c, ca) = (
            client_side.clone(),
            up_queue.clone(),
            stop.clone(),
            counters.clone(),
            client_addr.clone(),
        );
        let mut rng = Rng::new(seed);
        let o = outages.clone();
        threads.push(std::thread::spawn(move || {
            let mut shaper = Shaper::new(up, started, o);
            let mut buf = vec![0; MAX_DATAGRAM];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = recv.recv_from(&mut buf) {
                    *ca.lock().expect("client address") = Some(from);
                    shaper.admit(&buf[..n], &q, &c, &mut rng);
                }
            }
            q.close();
        }));
        let (send, q, s, c) = (relay_side.clone(), up_queue, stop.clone(), counters.clone());
        threads.push(std::thread::spawn(move || {
            while let Some(packet) = q.next_due(&s) {
                c.up_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                let _ = send.send(&packet);
            }
        }));
        // Relay → client.
        let (recv, q, s, c) = (
            relay_side.clone(),
            down_queue.clone(),
            stop.clone(),
            counters.clone(),
        );
        let mut rng = Rng::new(seed ^ 0x9E37_79B9_7F4A_7C15);
        let o = outages.clone();
        threads.push(std::thread::spawn(move || {
            let mut shaper = Shaper::new(down, started, o);
            let mut buf = vec![0; MAX_DATAGRAM];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = recv.recv(&mut buf) {
                    shaper.admit(&buf[..n], &q, &c, &mut rng);
                }
            }
            q.close();
        }));
        let (q, s, c) = (down_queue, stop.clone(), counters.clone());
        threads.push(std::thread::spawn(move || {
            while let Some(packet) = q.next_due(&s) {
                let to = *client_addr.lock().expect("client address");
                if let Some(to) = to {
                    c.down_bytes
                        .fetch_add(packet.len() as u64, Ordering::Relaxed);
                    let _ = client_side.send_to(&packet, to);
                }
            }
        }));
        LinkEmulator {
            addr,
            stop,
            threads,
            outages,
            relay_side,
            counters,
        }
    }

    /// Takes the link down, both ways, from `after` from now for `length`.
    pub fn outage(&self, after: Duration, length: Duration) {
        let from = Instant::now() + after;
        self.outages
            .lock()
            .expect("outages")
            .push((from, from + length));
    }

    /// Sends what comes from now on to `upstream` (and takes only its
    /// answers), as a UDP load balancer does when a relay behind it fails.
    pub fn redirect(&self, upstream: SocketAddr) {
        self.relay_side
            .connect(upstream)
            .expect("connect to the other relay");
    }

    /// The address clients connect to instead of the relay's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LinkEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Decides each packet's fate and departure time for one direction.
struct Shaper {
    impairments: Impairments,
    started: Instant,
    outages: Outages,
    /// When the bandwidth-capped link finishes sending what is queued.
    link_free_at: Instant,
    /// Departure of the last packet not deliberately reordered.
    last_departure: Instant,
    /// Packets seen so far in this direction.
    seen: u64,
}

impl Shaper {
    fn new(impairments: Impairments, started: Instant, outages: Outages) -> Shaper {
        Shaper {
            impairments,
            started,
            outages,
            link_free_at: started,
            last_departure: started,
            seen: 0,
        }
    }

    fn is_down(&self, now: Instant) -> bool {
        self.impairments.is_down(now - self.started)
            || self
                .outages
                .lock()
                .expect("outages")
                .iter()
                .any(|(from, to)| (*from..*to).contains(&now))
    }

    fn admit(&mut self, packet: &[u8], queue: &Queue, counters: &LinkCounters, rng: &mut Rng) {
        let now = Instant::now();
        let number = self.seen;
        self.seen += 1;
        if self.is_down(now)
            || self.impairments.drop_packets.contains(&number)
            || rng.chance(self.impairments.loss)
        {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let i = &self.impairments;
        let copies = if rng.chance(i.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut depart = now.max(self.link_free_at);
            if i.bytes_per_second > 0 {
                depart += Duration::from_secs_f64(packet.len() as f64 / i.bytes_per_second as f64);
                self.link_free_at = depart;
            }
            depart += i.delay + i.jitter.mul_f64(rng.unit());
            if rng.chance(i.reorder) {
                depart += i.reorder_by;
            } else {
                // A link is a queue: jitter delays packets but does not let
                // them overtake each other (only `reorder` does).
                depart = depart.max(self.last_departure);
                self.last_departure = depart;
            }
            queue.push(depart, packet.to_vec());
        }
    }
}

/// Packets waiting for their departure time, earliest first.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
    closed: bool,
}

struct Scheduled {
    at: Instant,
    seq: u64,
    packet: Vec<u8>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest must come out first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl Queue {
    fn push(&self, at: Instant, packet: Vec<u8>) {
        let mut state = self.state.lock().expect("queue");
        let seq = state.next_seq;
        state.next_seq += 1;
        state.heap.push(Scheduled { at, seq, packet });
        self.changed.notify_one();
    }

    fn close(&self) {
        self.state.lock().expect("queue").closed = true;
        self.changed.notify_one();
    }

    /// The next packet once its time has come; `None` once stopped.
    fn next_due(&self, stop: &AtomicBool) -> Option<Vec<u8>> {
        let mut state = self.state.lock().expect("queue");
        loop {
            if stop.load(Ordering::Relaxed) || state.closed {
                return None;
            }
            let now = Instant::now();
            let wait = match state.heap.peek() {
                Some(next) if next.at <= now => {
                    return state.heap.pop().map(|s| s.packet);
                }
                Some(next) => (next.at - now).min(POLL_INTERVAL),
                None => POLL_INTERVAL,
            };
            state = self.changed.wait_timeout(state, wait).expect("queue").0;
        }
    }
}
