//! The load generator: simulated clients spread over loopback UDP sockets (client `i` on socket
//! `i % sockets`), each socket driven by one task of a current-thread tokio runtime. Requests are
//! confirmable, with a fresh message ID and token each; at most `window` are outstanding in all;
//! every response is matched to its request and checked. A request unanswered for a second is sent
//! again with the same message ID, as a CoAP client would.
//!
//! A client may also be asked by the server: a confirmable or non-confirmable message from the
//! server (an Observe, say) goes to the client of the socket it came to ([`Script::answer`]; such a
//! client needs a socket of its own), and a phase ends only once no client waits for one. What a
//! client sends need not be a request: a notification keeps the token of the observation
//! ([`Script::stamps_token`]), and its acknowledgement is matched by message ID alone.
//!
//! The tasks are spawned before the first phase and keep their clients across phases, so that the
//! generator allocates nothing of note while the server's memory is measured.

use crate::wire::{self, Reply, ACK, CON, NON};
use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{timeout, Instant};

/// How long a request waits for its response before it is sent again.
const RETRY: Duration = Duration::from_secs(1);
/// Transmissions of one request before the run is declared failed.
const MAX_TRANSMISSIONS: u32 = 5;
/// The largest response accepted: a block of 1 024 bytes (the largest Block2 size) and its header
/// and options.
const MAX_REPLY: usize = 1152;

/// A simulated client.
pub trait Script: Send + 'static {
    /// The request to send next; the generator stamps its message ID and token in.
    fn message(&mut self) -> &mut Vec<u8>;
    /// Checks the response to that request (type, message ID and token are already checked).
    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String>;

    /// Whether the generator stamps a fresh token into the next message (a request), or leaves
    /// the one in it (a notification, on the token of the server's Observe).
    fn stamps_token(&self) -> bool {
        true
    }

    /// Answers a message the server sent on its own (its request): writes the answer into `out`,
    /// or leaves it empty to send none.
    fn answer(&mut self, request: &Reply<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        let _ = out;
        Err(format!(
            "the server sent {} on its own",
            request.code_text()
        ))
    }

    /// Whether the client still waits for a message from the server (a phase goes on until none
    /// does).
    fn waits_for_server(&self) -> bool {
        false
    }
}

/// What one phase asks of every client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rounds {
    /// One exchange per client.
    Once,
    /// Exchanges in turn until this instant.
    Until(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Idle,
    Run(Rounds),
    Stop,
}

/// What a phase did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub exchanges: u64,
    pub retransmissions: u64,
    /// Responses matching nothing outstanding (late duplicates after a retransmission).
    pub stray: u64,
    /// Messages the server sent on its own, answered by the clients.
    pub answered: u64,
    pub elapsed: Duration,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.exchanges += other.exchanges;
        self.retransmissions += other.retransmissions;
        self.stray += other.stray;
        self.answered += other.answered;
    }

    pub fn per_second(&self) -> f64 {
        self.exchanges as f64 / self.elapsed.as_secs_f64()
    }

    /// The phase's figures, with the CPU time the server and the generator spent on it.
    pub fn describe(&self, server_cpu: Duration, generator_cpu: Duration) -> String {
        let wall = self.elapsed.as_secs_f64();
        format!(
            "{} exchanges in {wall:.3} s = {:.0}/s; server {:.3} s CPU ({:.0} % busy) = {:.0} per \
             CPU-second; generator {:.0} % busy; {} retransmissions, {} stray",
            self.exchanges,
            self.per_second(),
            server_cpu.as_secs_f64(),
            100.0 * server_cpu.as_secs_f64() / wall,
            self.exchanges as f64 / server_cpu.as_secs_f64(),
            100.0 * generator_cpu.as_secs_f64() / wall,
            self.retransmissions,
            self.stray
        )
    }
}

pub struct Generator {
    commands: watch::Sender<Command>,
    reports: mpsc::UnboundedReceiver<Result<Tally>>,
    sockets: usize,
}

impl Generator {
    /// Binds `sockets` sockets on 127.0.0.1 connected to `server` and spawns their tasks, which
    /// wait for [`Generator::run`]. Must be called inside a tokio runtime.
    pub async fn start<C: Script>(
        server: SocketAddr,
        clients: Vec<C>,
        sockets: usize,
        window: usize,
    ) -> Result<Self> {
        let sockets = sockets.clamp(1, clients.len().max(1));
        let permits = Arc::new(Semaphore::new(window));
        let per_socket = (window / sockets).max(1);
        let (commands, _) = watch::channel(Command::Idle);
        let (report, reports) = mpsc::unbounded_channel();
        for (index, clients) in deal(clients, sockets).into_iter().enumerate() {
            let worker = Worker {
                socket: connect(server).await?,
                clients,
                window: per_socket,
                permits: permits.clone(),
                mid: (index as u16).wrapping_mul(7919),
                token: 0,
                outstanding: Vec::with_capacity(per_socket),
                outgoing: Vec::with_capacity(MAX_REPLY),
            };
            tokio::spawn(obey(worker, commands.subscribe(), report.clone()));
        }
        let mut generator = Generator {
            commands,
            reports,
            sockets,
        };
        // Every task reports once it waits for commands, before anything is measured.
        generator.collect().await?;
        Ok(generator)
    }

    /// Runs one phase on every socket and waits for all of them.
    pub async fn run(&mut self, rounds: Rounds) -> Result<Tally> {
        let start = Instant::now();
        self.commands.send_replace(Command::Run(rounds));
        let mut total = self.collect().await?;
        total.elapsed = start.elapsed();
        Ok(total)
    }

    /// One report from every task.
    async fn collect(&mut self) -> Result<Tally> {
        let mut total = Tally::default();
        for _ in 0..self.sockets {
            let tally = self
                .reports
                .recv()
                .await
                .context("a generator task died")??;
            total.add(tally);
        }
        Ok(total)
    }

    /// Ends the tasks.
    pub fn stop(self) {
        self.commands.send_replace(Command::Stop);
    }
}

/// Client `i` goes to socket `i % sockets`.
fn deal<C>(clients: Vec<C>, sockets: usize) -> Vec<Vec<C>> {
    let mut dealt: Vec<Vec<C>> = (0..sockets)
        .map(|_| Vec::with_capacity(clients.len() / sockets + 1))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        dealt[i % sockets].push(client);
    }
    dealt
}

async fn connect(server: SocketAddr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding a client socket (too many open files? see --sockets)")?;
    socket.connect(server).await?;
    Ok(socket)
}

async fn obey<C: Script>(
    mut worker: Worker<C>,
    mut commands: watch::Receiver<Command>,
    reports: mpsc::UnboundedSender<Result<Tally>>,
) {
    let _ = reports.send(Ok(Tally::default()));
    while commands.changed().await.is_ok() {
        let command = *commands.borrow_and_update();
        match command {
            Command::Idle => {}
            Command::Run(rounds) => {
                let _ = reports.send(worker.run(rounds).await);
            }
            Command::Stop => return,
        }
    }
}

struct Outstanding {
    client: usize,
    mid: u16,
    /// The token stamped in, if the generator chose it.
    token: Option<u32>,
    sent: Instant,
    transmissions: u32,
}

/// One socket and its clients.
struct Worker<C> {
    socket: UdpSocket,
    clients: Vec<C>,
    window: usize,
    permits: Arc<Semaphore>,
    mid: u16,
    token: u32,
    outstanding: Vec<Outstanding>,
    /// A client's answer to the server, reused.
    outgoing: Vec<u8>,
}

impl<C: Script> Worker<C> {
    async fn run(&mut self, rounds: Rounds) -> Result<Tally> {
        let mut tally = Tally::default();
        let mut started = 0usize;
        let mut buf = [0u8; MAX_REPLY];
        // Seconds in a row spent waiting for the server with nothing outstanding.
        let mut idle = 0;
        loop {
            while self.outstanding.len() < self.window && self.wants_more(started, rounds) {
                self.send(started % self.clients.len()).await?;
                started += 1;
            }
            if self.outstanding.is_empty() && !self.clients.iter().any(C::waits_for_server) {
                return Ok(tally);
            }
            match timeout(RETRY, self.socket.recv(&mut buf)).await {
                Ok(received) => {
                    idle = 0;
                    self.receive(&buf[..received?], &mut tally).await?
                }
                Err(_) if self.outstanding.is_empty() => {
                    idle += 1;
                    if idle == MAX_TRANSMISSIONS {
                        bail!("a client waited {idle} s for the server in vain");
                    }
                }
                Err(_) => self.retransmit(&mut tally).await?,
            }
        }
    }

    fn wants_more(&self, started: usize, rounds: Rounds) -> bool {
        match rounds {
            Rounds::Once => started < self.clients.len(),
            Rounds::Until(deadline) => !self.clients.is_empty() && Instant::now() < deadline,
        }
    }

    async fn send(&mut self, client: usize) -> Result<()> {
        self.permits.acquire().await?.forget();
        self.mid = self.mid.wrapping_add(1);
        self.token = self.token.wrapping_add(1);
        let token = self.clients[client].stamps_token().then_some(self.token);
        let message = self.clients[client].message();
        wire::stamp(message, self.mid, token);
        self.socket.send(message).await?;
        self.outstanding.push(Outstanding {
            client,
            mid: self.mid,
            token,
            sent: Instant::now(),
            transmissions: 1,
        });
        Ok(())
    }

    async fn receive(&mut self, datagram: &[u8], tally: &mut Tally) -> Result<()> {
        if datagram.len() == MAX_REPLY {
            bail!("a response of {MAX_REPLY} bytes or more");
        }
        let reply = Reply::parse(datagram).map_err(|e| anyhow!("{e}"))?;
        if reply.kind == CON || reply.kind == NON {
            return self.answer(&reply, tally).await;
        }
        let Some(index) = self.outstanding.iter().position(|o| o.mid == reply.mid) else {
            tally.stray += 1;
            return Ok(());
        };
        let sent = &self.outstanding[index];
        let token_matches = sent.token.is_none_or(|t| reply.token == t.to_be_bytes());
        if reply.kind != ACK || !token_matches {
            bail!(
                "response {reply:?} does not acknowledge the message with token {:?}",
                sent.token
            );
        }
        self.clients[sent.client].check(&reply).map_err(|e| {
            anyhow!(
                "client {} of socket {:?}: {e}",
                sent.client,
                self.socket.local_addr()
            )
        })?;
        self.outstanding.swap_remove(index);
        self.permits.add_permits(1);
        tally.exchanges += 1;
        Ok(())
    }

    /// Hands a message the server sent on its own to the socket's client and sends its answer.
    async fn answer(&mut self, request: &Reply<'_>, tally: &mut Tally) -> Result<()> {
        let [client] = &mut self.clients[..] else {
            bail!(
                "the server sent {} to a socket of {} clients: a client it asks needs a socket \
                 of its own",
                request.code_text(),
                self.clients.len()
            );
        };
        client
            .answer(request, &mut self.outgoing)
            .map_err(|e| anyhow!("socket {:?}: {e}", self.socket.local_addr()))?;
        if !self.outgoing.is_empty() {
            self.socket.send(&self.outgoing).await?;
        }
        tally.answered += 1;
        Ok(())
    }

    async fn retransmit(&mut self, tally: &mut Tally) -> Result<()> {
        let now = Instant::now();
        for sent in &mut self.outstanding {
            if now.duration_since(sent.sent) < RETRY {
                continue;
            }
            if sent.transmissions == MAX_TRANSMISSIONS {
                bail!("no response after {MAX_TRANSMISSIONS} transmissions");
            }
            sent.transmissions += 1;
            sent.sent = now;
            let message = self.clients[sent.client].message();
            wire::stamp(message, sent.mid, sent.token);
            self.socket.send(message).await?;
            tally.retransmissions += 1;
        }
        Ok(())
    }
}
