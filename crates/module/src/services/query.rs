//! A question the host asks of the network, as a service on a port of its own while it runs:
//! AT+NPING (one echo), AT+QPING (a series and its summary) and AT+QIDNSGIP (a name's addresses).
//! The network answers ([`LookupOp`]): the real-time driver with an ICMP echo and the system
//! resolver, the simulated network from what is attached to it. The answers are URCs in the
//! family's words; the service then has nothing left to do and is replaced by the next question.

use crate::radio::Rai;
use crate::service::{Effect, Env, LookupOp, Service};
use nbmodem_clock::Instant;
use nbmodem_net::{LookupAnswer, Transmit};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The Quectel TCP/IP codes in the URCs: a name that does not resolve, a ping with no reply.
pub const DNS_FAILED: u16 = 565;
pub const TIMEOUT: u16 = 569;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// AT+NPING: `+NPING:<address>,<ttl>,<rtt>` or `+NPINGERR:<err>`.
    NPing,
    /// AT+QPING: `+QPING: 0,"<ip>",<bytes>,<time>,<ttl>` a reply, then the summary.
    QPing { count: u8 },
    /// AT+QIDNSGIP: `+QIURC: "dnsgip",0,<count>,<ttl>` and an address a line.
    DnsGip,
    /// AT+QDNS (the Neul family): `+QDNS:<ip>`, or `+QDNS:QUERY_DNS_FAILED`.
    QDns,
}

/// What AT+QDNS reports for a name that does not resolve (drivers look for "FAIL" in it).
pub const QDNS_FAILED: &str = "QUERY_DNS_FAILED";

#[derive(Debug)]
pub struct Query {
    ask: Ask,
    separator: &'static str,
    /// The address pinged, once known.
    target: Option<IpAddr>,
    size: usize,
    timeout: Duration,
    sent: u8,
    rtts: Vec<u64>,
    waiting: bool,
    asks: VecDeque<LookupOp>,
}

impl Query {
    /// A question about `target` (known) or `name` (to resolve first).
    pub fn new(
        ask: Ask,
        separator: &'static str,
        target: Result<IpAddr, String>,
        size: usize,
        timeout: Duration,
    ) -> Query {
        let mut query = Query {
            ask,
            separator,
            target: None,
            size,
            timeout,
            sent: 0,
            rtts: Vec::new(),
            waiting: true,
            asks: VecDeque::new(),
        };
        match target {
            Ok(ip) => query.ping(ip),
            Err(name) => query.asks.push_back(LookupOp::Resolve(name)),
        }
        query
    }

    fn ping(&mut self, to: IpAddr) {
        self.target = Some(to);
        self.sent += 1;
        self.asks.push_back(LookupOp::Ping {
            to,
            size: self.size,
            timeout: self.timeout,
        });
    }

    fn urc(&self, env: &mut Env, name: &str, value: String) {
        env.effect(Effect::Urc(format!("{name}{}{value}", self.separator)));
    }

    fn resolved(&mut self, ips: Vec<IpAddr>, env: &mut Env) {
        match self.ask {
            Ask::DnsGip => {
                self.waiting = false;
                self.urc(env, "+QIURC", format!("\"dnsgip\",0,{},600", ips.len()));
                for ip in ips {
                    self.urc(env, "+QIURC", format!("\"dnsgip\",\"{ip}\""));
                }
            }
            Ask::QDns => {
                self.waiting = false;
                match ips.into_iter().find(IpAddr::is_ipv4) {
                    Some(ip) => self.urc(env, "+QDNS", ip.to_string()),
                    None => self.urc(env, "+QDNS", QDNS_FAILED.into()),
                }
            }
            _ => match ips.into_iter().find(IpAddr::is_ipv4) {
                Some(ip) => self.ping(ip),
                None => self.not_resolved(env),
            },
        }
    }

    fn not_resolved(&mut self, env: &mut Env) {
        self.waiting = false;
        match self.ask {
            Ask::DnsGip => self.urc(env, "+QIURC", format!("\"dnsgip\",{DNS_FAILED}")),
            Ask::QPing { .. } => self.urc(env, "+QPING", DNS_FAILED.to_string()),
            Ask::NPing => self.urc(env, "+NPINGERR", "2".into()),
            Ask::QDns => self.urc(env, "+QDNS", QDNS_FAILED.into()),
        }
    }

    /// One echo's outcome (`None`: no reply, or not sent); then the next echo or the end.
    fn echoed(&mut self, reply: Option<(Duration, u8)>, failed: bool, env: &mut Env) {
        let ip = self.target.map(|ip| ip.to_string()).unwrap_or_default();
        match (self.ask, reply) {
            (Ask::NPing, Some((rtt, ttl))) => {
                self.urc(env, "+NPING", format!("{ip},{ttl},{}", rtt.as_millis()));
            }
            (Ask::NPing, None) => {
                let err = if failed { 2 } else { 1 };
                self.urc(env, "+NPINGERR", err.to_string());
            }
            (Ask::QPing { .. }, Some((rtt, ttl))) => {
                let ms = rtt.as_millis() as u64;
                self.rtts.push(ms);
                let line = format!("0,\"{ip}\",{},{ms},{ttl}", self.size);
                self.urc(env, "+QPING", line);
            }
            (Ask::QPing { .. }, None) => self.urc(env, "+QPING", TIMEOUT.to_string()),
            (Ask::DnsGip | Ask::QDns, _) => {}
        }
        match (self.ask, self.target) {
            (Ask::QPing { count }, Some(ip)) if self.sent < count => self.ping(ip),
            (Ask::QPing { .. }, _) => {
                self.waiting = false;
                let summary = self.summary();
                self.urc(env, "+QPING", summary);
            }
            _ => self.waiting = false,
        }
    }

    /// `<finresult>,<sent>,<rcvd>,<lost>,<min>,<max>,<avg>` of a series.
    fn summary(&self) -> String {
        let received = self.rtts.len();
        let lost = usize::from(self.sent) - received;
        let min = self.rtts.iter().min().copied().unwrap_or(0);
        let max = self.rtts.iter().max().copied().unwrap_or(0);
        let avg = self.rtts.iter().sum::<u64>() / (received.max(1) as u64);
        format!("0,{},{received},{lost},{min},{max},{avg}", self.sent)
    }
}

impl Service for Query {
    fn name(&self) -> &'static str {
        "network query"
    }

    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &[u8], _: &mut Env) {}

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _: Instant, _: &mut Env) {}

    fn is_busy(&self) -> bool {
        self.waiting
    }

    fn poll_lookup(&mut self) -> Option<LookupOp> {
        self.asks.pop_front()
    }

    fn handle_lookup(&mut self, _: Instant, answer: LookupAnswer, env: &mut Env) {
        if !self.waiting {
            return;
        }
        match answer {
            LookupAnswer::Resolved(ips) => self.resolved(ips, env),
            LookupAnswer::NotResolved => self.not_resolved(env),
            LookupAnswer::Pong { rtt, ttl } => self.echoed(Some((rtt, ttl)), false, env),
            LookupAnswer::NoPong => self.echoed(None, false, env),
            LookupAnswer::PingFailed => self.echoed(None, true, env),
        }
    }
}
