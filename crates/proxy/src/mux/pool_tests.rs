//! The pool, simulated: the multiplexer and N in-memory dc_servers (the
//! real server engine over a memory store, speaking the extension) on one
//! virtual clock, as quinn-proto tests its endpoints. Ring placement,
//! replica fallback, failing fast and rejoining, without a socket, a
//! process or a sleep.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dc_engine::{ClientSession, Dispatcher};
use dc_ops::{Execute, Op, Reply};
use dc_resp::RespConfig;
use dc_store::{Limits, MemoryStore};

use super::*;
use crate::ring::Server as RingServer;

const TIMEOUT: Duration = Duration::from_millis(200);

/// One in-memory dc_server.
struct Node {
    dispatcher: Dispatcher<MemoryStore>,
    /// Its end of the connection dc_client holds, if any.
    session: Option<ClientSession>,
    /// Connects to it succeed.
    reachable: bool,
    /// It reads requests but never answers.
    stalled: bool,
    /// Bytes it has read but not yet served (a request split across
    /// writes).
    pending: Vec<u8>,
}

impl Node {
    fn new() -> Node {
        Node {
            dispatcher: Dispatcher::new(MemoryStore::new(Limits::new(100_000, 64 << 20).unwrap())),
            session: None,
            reachable: true,
            stalled: false,
            pending: Vec::new(),
        }
    }

    fn holds(&mut self, key: &[u8]) -> bool {
        let mut found = false;
        self.dispatcher
            .executor()
            .execute(&Op::Exists { key }, &mut |r| found = *r == Reply::Found);
        found
    }
}

struct Pool {
    mux: Mux,
    now: Instant,
    nodes: Vec<Node>,
    names: Vec<String>,
    client: ClientId,
    /// Connects to unreachable servers, refused a millisecond after they
    /// start (as a reset comes back over a network).
    refusing: Vec<(LinkId, Instant)>,
}

impl Pool {
    fn new(servers: usize, replicas: usize) -> Pool {
        let now = Instant::now();
        let names: Vec<String> = (0..servers).map(|i| format!("cache{i}:9001")).collect();
        let specs: Vec<ServerSpec> = names.iter().map(ServerSpec::server).collect();
        let config = MuxConfig {
            replicas,
            timeout: Some(TIMEOUT),
            ..MuxConfig::default()
        };
        let mut mux = Mux::with_pool(config, &specs, now).unwrap();
        let redis = FrontKind::Redis(Arc::new(RespConfig::default()));
        let client = mux.add_client_of(0, &redis, now).unwrap();
        let mut pool = Pool {
            mux,
            now,
            nodes: (0..servers).map(|_| Node::new()).collect(),
            names,
            client,
            refusing: Vec::new(),
        };
        pool.advance(Duration::ZERO);
        for link in 0..servers {
            assert_eq!(pool.mux.link_state(LinkId(link)), Some(LinkState::Up));
            assert_eq!(pool.mux.link_dialect(LinkId(link)), Some(Dialect::Extended));
        }
        pool
    }

    /// The ring's owners of `key` with every server live, in order.
    fn owners(&self, key: &[u8], replicas: usize) -> Vec<usize> {
        let servers: Vec<RingServer> = self.names.iter().map(RingServer::new).collect();
        let ring = crate::ring::Ring::new(&servers).unwrap();
        ring.owners(key, replicas, |_| true).collect()
    }

    /// Moves the clock on and runs what is due.
    fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        let (due, later) = self.refusing.drain(..).partition(|&(_, at)| at <= now);
        self.refusing = later;
        for (link, _) in due {
            let refused = UpstreamLoss::ConnectFailed("refused".into());
            self.mux.upstream_lost(link, refused, now);
        }
        self.mux.handle_timeout(self.now);
        self.settle();
    }

    /// Carries out events and moves bytes both ways until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(event) = self.mux.poll_event() {
                moved = true;
                match event {
                    Event::Connect(link) => {
                        let node = &mut self.nodes[link.0];
                        if node.reachable {
                            node.session = Some(ClientSession::new());
                            node.pending.clear();
                            self.mux.upstream_connected(link, self.now);
                        } else {
                            let at = self.now + Duration::from_millis(1);
                            self.refusing.push((link, at));
                        }
                    }
                    Event::Disconnect(link, _) => self.nodes[link.0].session = None,
                    Event::CloseClient(id, why) => panic!("client {id:?} closed: {why}"),
                    _ => {}
                }
            }
            for index in 0..self.nodes.len() {
                let link = LinkId(index);
                if self.mux.link_state(link) != Some(LinkState::Up) {
                    continue;
                }
                let out = self.mux.upstream_output(link).unwrap();
                if out.is_empty() {
                    continue;
                }
                moved = true;
                let node = &mut self.nodes[index];
                node.pending.extend_from_slice(out.as_slice());
                let n = out.len();
                out.consume(n);
                if node.stalled {
                    continue;
                }
                let Some(session) = node.session.as_mut() else {
                    continue;
                };
                let mut answers = Vec::new();
                let served = session
                    .serve(
                        &mut node.dispatcher,
                        &node.pending,
                        0,
                        &mut answers,
                        usize::MAX,
                    )
                    .unwrap();
                node.pending.drain(..served.consumed);
                let used = self.mux.upstream_input(link, &answers, self.now);
                assert_eq!(used, answers.len());
            }
            if !moved {
                return;
            }
        }
    }

    /// Sends one RESP command and returns what the client has got by the
    /// time nothing more moves.
    fn ask(&mut self, args: &[&[u8]]) -> String {
        self.send(args);
        self.take_output()
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            cmd.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            cmd.extend_from_slice(arg);
            cmd.extend_from_slice(b"\r\n");
        }
        let input = self.mux.client_input(self.client, &cmd, self.now);
        assert_eq!(input.consumed, cmd.len());
        self.settle();
    }

    fn take_output(&mut self) -> String {
        let out = self.mux.client_output(self.client).unwrap();
        let text = String::from_utf8_lossy(out.as_slice()).into_owned();
        let n = out.len();
        out.consume(n);
        text
    }

    /// kill -9: the server's memory is gone and its connection resets.
    fn kill(&mut self, index: usize) {
        self.nodes[index] = Node {
            reachable: false,
            ..Node::new()
        };
        self.mux
            .upstream_lost(LinkId(index), UpstreamLoss::Closed, self.now);
        self.settle();
    }

    fn store_keys(&mut self, n: usize) -> Vec<Vec<u8>> {
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("session-{i}").into_bytes())
            .collect();
        for key in &keys {
            let value = value_of(key);
            assert_eq!(self.ask(&[b"SET", key, &value, b"EX", b"300"]), "+OK\r\n");
        }
        keys
    }
}

fn value_of(key: &[u8]) -> Vec<u8> {
    [b"data-".as_slice(), key].concat()
}

fn bulk(value: &[u8]) -> String {
    format!("${}\r\n{}\r\n", value.len(), String::from_utf8_lossy(value))
}

#[test]
fn each_key_lives_on_its_ring_owner() {
    let mut pool = Pool::new(3, 1);
    let keys = pool.store_keys(300);
    let mut held = [0usize; 3];
    for key in &keys {
        let owner = pool.owners(key, 1)[0];
        for (i, node) in pool.nodes.iter_mut().enumerate() {
            assert_eq!(node.holds(key), i == owner, "{key:?} on server {i}");
        }
        held[owner] += 1;
    }
    // ketama spreads them: nobody idles, nobody holds most.
    assert!(held.iter().all(|&n| (50..=150).contains(&n)), "{held:?}");
}

#[test]
fn with_two_replicas_losing_any_one_server_loses_nothing() {
    for victim in 0..3 {
        let mut pool = Pool::new(3, 2);
        let keys = pool.store_keys(200);
        for key in &keys {
            let owners = pool.owners(key, 2);
            for (i, node) in pool.nodes.iter_mut().enumerate() {
                assert_eq!(node.holds(key), owners.contains(&i), "{key:?} on {i}");
            }
        }
        pool.kill(victim);
        for key in &keys {
            // Answered at once, with no time passing: the dead server is
            // skipped, not waited for.
            assert_eq!(
                pool.ask(&[b"GET", key]),
                bulk(&value_of(key)),
                "server {victim} killed"
            );
        }
    }
}

#[test]
fn with_one_replica_a_lost_server_loses_its_share_and_nothing_waits() {
    let mut pool = Pool::new(3, 1);
    let keys = pool.store_keys(300);
    let lost: Vec<&Vec<u8>> = keys.iter().filter(|k| pool.owners(k, 1)[0] == 2).collect();
    let lost = lost.len();
    pool.kill(2);
    let mut misses = 0;
    for key in &keys {
        match pool.ask(&[b"GET", key]).as_str() {
            "$-1\r\n" => misses += 1,
            hit => assert_eq!(hit, bulk(&value_of(key))),
        }
    }
    assert_eq!(misses, lost, "exactly the dead server's keys miss");
    assert!((60..=140).contains(&misses), "about a third: {misses}");
    // Its keys now go to the next server on the ring, and are kept there.
    let key = keys.iter().find(|k| pool.owners(k, 1)[0] == 2).unwrap();
    assert_eq!(pool.ask(&[b"SET", key, b"again"]), "+OK\r\n");
    assert_eq!(pool.ask(&[b"GET", key]), bulk(b"again"));
    let next = pool.owners(key, 2)[1];
    assert!(pool.nodes[next].holds(key));
}

#[test]
fn a_stalled_replica_is_dropped_at_its_share_of_the_timeout() {
    let mut pool = Pool::new(3, 2);
    let keys = pool.store_keys(60);
    let key = keys
        .iter()
        .find(|k| pool.owners(k, 2)[0] == 1)
        .unwrap()
        .clone();
    let second = keys
        .iter()
        .find(|k| pool.owners(k, 2)[1] == 1)
        .unwrap()
        .clone();
    pool.nodes[1].stalled = true;
    // Where it is the second replica, the first one's hit answers at once.
    assert_eq!(pool.ask(&[b"GET", &second]), bulk(&value_of(&second)));
    // Where it is the first, its word comes first: the read waits until it
    // is dropped, with two replicas at half the timeout, and the second
    // replica's hit answers.
    pool.send(&[b"GET", &key]);
    assert_eq!(pool.take_output(), "", "waiting for server 1");
    pool.advance(TIMEOUT / 2 - Duration::from_millis(1));
    assert_eq!(pool.take_output(), "");
    pool.advance(Duration::from_millis(1));
    assert_eq!(pool.take_output(), bulk(&value_of(&key)));
    assert!(
        !pool.mux.link_usable(LinkId(1)),
        "the stalled server is dropped"
    );
    // Its keys are read from the other replica meanwhile, at once.
    pool.nodes[1].stalled = false;
    pool.nodes[1].reachable = false;
    assert_eq!(pool.ask(&[b"GET", &key]), bulk(&value_of(&key)));
}

#[test]
fn with_every_server_gone_each_request_fails_at_once() {
    let mut pool = Pool::new(2, 2);
    pool.kill(0);
    pool.kill(1);
    assert_eq!(pool.ask(&[b"GET", b"k"]), "-ERR cache unavailable\r\n");
    assert_eq!(
        pool.ask(&[b"SET", b"k", b"v"]),
        "-ERR cache unavailable\r\n"
    );
    assert_eq!(
        pool.ask(&[b"PING"]),
        "+PONG\r\n",
        "answered here, no server needed"
    );
}

#[test]
fn a_restarted_server_is_used_again_within_100_ms() {
    let mut pool = Pool::new(3, 1);
    pool.kill(0);
    // Down for a while, as a crashed server is.
    for _ in 0..200 {
        pool.advance(Duration::from_millis(10));
    }
    assert!(!pool.mux.link_usable(LinkId(0)));
    pool.nodes[0].reachable = true;
    let restarted = pool.now;
    while !pool.mux.link_usable(LinkId(0)) {
        pool.advance(Duration::from_millis(1));
        assert!(
            pool.now - restarted <= Duration::from_millis(100),
            "not back within 100 ms"
        );
    }
    // Its keys are its own again.
    let keys = pool.store_keys(90);
    let own: Vec<&Vec<u8>> = keys.iter().filter(|k| pool.owners(k, 1)[0] == 0).collect();
    assert!(!own.is_empty());
    for key in own {
        assert!(pool.nodes[0].holds(key));
    }
    assert!(pool.mux.link_stats(LinkId(0)).unwrap().connects >= 2);
}

#[test]
fn a_multi_key_request_gathers_replies_from_several_servers() {
    let mut pool = Pool::new(3, 1);
    let keys = pool.store_keys(30);
    let owners: std::collections::HashSet<usize> =
        keys.iter().map(|k| pool.owners(k, 1)[0]).collect();
    assert_eq!(owners.len(), 3, "the keys span the pool");
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(Vec::as_slice));
    del.push(b"not-stored");
    assert_eq!(pool.ask(&del), ":30\r\n");
    for node in &mut pool.nodes {
        assert!(keys.iter().all(|k| !node.holds(k)));
    }
}

#[test]
fn replicas_that_disagree_answer_for_the_data_first_stored() {
    let mut pool = Pool::new(3, 2);
    let keys = pool.store_keys(60);
    let key = keys
        .iter()
        .find(|k| pool.owners(k, 2)[0] == 0)
        .unwrap()
        .clone();
    // Server 0 comes back empty: its keys are only on their second replica.
    pool.kill(0);
    pool.nodes[0].reachable = true;
    while !pool.mux.link_usable(LinkId(0)) {
        pool.advance(Duration::from_millis(1));
    }
    assert!(!pool.nodes[0].holds(&key));
    // The id is taken on the second replica: the ADD is refused, and what
    // the empty one stored meanwhile is deleted again.
    assert_eq!(pool.ask(&[b"SET", &key, b"intruder", b"NX"]), "$-1\r\n");
    assert!(!pool.nodes[0].holds(&key), "repaired");
    assert_eq!(pool.mux.stats().repairs, 1);
    assert_eq!(pool.ask(&[b"GET", &key]), bulk(&value_of(&key)));
    // A DELETE that misses on one replica and finds the key on the other
    // removed it.
    assert_eq!(pool.ask(&[b"DEL", &key]), ":1\r\n");
    assert_eq!(pool.ask(&[b"GET", &key]), "$-1\r\n");
    // A new id is stored on both.
    assert_eq!(pool.ask(&[b"SET", b"fresh", b"v", b"NX"]), "+OK\r\n");
    for owner in pool.owners(b"fresh", 2) {
        assert!(pool.nodes[owner].holds(b"fresh"));
    }
}

/// What one client does to a pool of three with two replicas, in order.
#[derive(Debug, Clone)]
enum Step {
    Command(Vec<Vec<u8>>),
    /// kill -9 of a server, which comes back empty at once (its keys are
    /// then only on their other replica).
    Restart(usize),
    /// kill -9 of a server, which stays away.
    Kill(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let key = prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b"c".to_vec()),
        Just(b"d".to_vec())
    ];
    let value = prop_oneof![
        Just(b"v1".to_vec()),
        Just(b"v2".to_vec()),
        Just(b"v3".to_vec())
    ];
    let cmd = |words: &[&[u8]]| words.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
    prop_oneof![
        8 => (key.clone(), value.clone()).prop_map(move |(k, v)| Step::from(cmd(&[b"SET", &k, &v, b"NX", b"PX", b"100000"]))),
        4 => (key.clone(), value).prop_map(move |(k, v)| Step::from(cmd(&[b"SET", &k, &v, b"PX", b"100000"]))),
        10 => key.clone().prop_map(move |k| Step::from(cmd(&[b"GET", &k]))),
        4 => (key.clone(), key.clone()).prop_map(move |(k, j)| Step::from(cmd(&[b"DEL", &k, &j]))),
        3 => (key.clone(), key).prop_map(move |(k, j)| Step::from(cmd(&[b"EXISTS", &k, &j]))),
        1 => (0usize..3).prop_map(Step::Restart),
        1 => (0usize..3).prop_map(Step::Kill),
    ]
}

impl From<Vec<Vec<u8>>> for Step {
    fn from(words: Vec<Vec<u8>>) -> Step {
        Step::Command(words)
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// With two replicas, any one server lost (and back empty, or gone)
    /// changes no answer: the pool answers as one cache.
    #[test]
    fn two_replicas_answer_as_one_cache_through_one_loss(steps in proptest::collection::vec(step(), 1..60)) {
        let mut pool = Pool::new(3, 2);
        let mut model = dc_ops::model::Model::new();
        let mut reference = dc_resp::RespServer::new(Arc::new(RespConfig::default()));
        let mut lost = false;
        // Commands are pipelined: sent together, and a loss strikes while
        // they are in flight.
        let mut batch: Vec<u8> = Vec::new();
        let mut want = Vec::new();
        let mut sent: Vec<String> = Vec::new();
        for step in steps.into_iter().chain([Step::Kill(usize::MAX)]) {
            let Step::Command(words) = step else {
                // As much as the client may pipeline goes in now; the loss
                // strikes with it in flight; the rest follows as answers
                // drain.
                let mut fed = pool.mux.client_input(pool.client, &batch, pool.now).consumed;
                match step {
                    Step::Restart(i) if !lost => {
                        pool.kill(i);
                        pool.nodes[i].reachable = true;
                        while !pool.mux.link_usable(LinkId(i)) {
                            pool.advance(Duration::from_millis(1));
                        }
                        lost = true;
                    }
                    Step::Kill(i) if !lost && i < 3 => {
                        pool.kill(i);
                        lost = true;
                    }
                    // A second loss (even of the same server, after keys
                    // were written to its stand-in) is beyond what two
                    // replicas promise: not made.
                    _ => pool.settle(),
                }
                // Reconnect attempts to a dead server come and go meanwhile.
                pool.advance(Duration::from_millis(2));
                let mut got = pool.take_output();
                while fed < batch.len() {
                    let input = pool.mux.client_input(pool.client, &batch[fed..], pool.now);
                    proptest::prop_assert!(input.consumed > 0 || !input.blocked);
                    fed += input.consumed;
                    pool.settle();
                    got.push_str(&pool.take_output());
                }
                batch.clear();
                proptest::prop_assert_eq!(got, String::from_utf8_lossy(&want).into_owned(), "{:?}", sent);
                want.clear();
                sent.clear();
                continue;
            };
            let mut bytes = format!("*{}\r\n", words.len()).into_bytes();
            for w in &words {
                bytes.extend_from_slice(format!("${}\r\n", w.len()).as_bytes());
                bytes.extend_from_slice(w);
                bytes.extend_from_slice(b"\r\n");
            }
            use dc_ops::ServerCodec;
            reference.serve(&bytes, &mut model, &mut want).unwrap();
            batch.extend_from_slice(&bytes);
            sent.push(words.iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect::<Vec<_>>().join(" "));
        }
    }
}
