//! The module on a network: [`ModuleNode`] makes a [`Module`] a [`HostNode`], a host with one
//! local port per service, so that the same module runs on the in-memory network in virtual time
//! and on UDP sockets in real time.
//!
//! The module's services address the operators' public hosts (`42.99.2.15:5683` for
//! `zzhc.vnet.cn`…). The node sends each datagram where the module's [`crate::Router`] says that
//! host really is, and gives datagrams coming back from there to the module as coming from the
//! public address, so the services never see the difference. The translation is per local port:
//! two services talking to one public address (an LwM2M link and its firmware download) each get
//! their own answers. Datagrams of the operators' services to hosts with no route are dropped; those
//! of the host's data sockets go where they are addressed (the real internet in real time, a node
//! at that address in virtual time). The TCP streams of data sockets are routed the same way.

use crate::module::Module;
use nbmodem_clock::{Instant, Timed};
use nbmodem_net::{
    HostNode, HostTransmit, Lookup, LookupAnswer, StreamEvent, StreamRequest, Transmit,
};
use std::cell::Cell;
use std::net::SocketAddr;

pub struct ModuleNode {
    module: Module,
    /// The public address behind each (local port, real address) the module has sent to where
    /// the two differ (a routed operator host), in key order. A handful of entries at most (the
    /// router's hosts the services talk to), so a sorted vector without spare room rather than a
    /// map: a fleet holds thousands of nodes.
    public_of: Vec<((u16, SocketAddr), SocketAddr)>,
    /// The module's next deadline as last asked (outer `None`: not known). Asking walks the
    /// module's timers, radio, link and every service down to their CoAP endpoints, and a
    /// simulator asks after each event and again before running a timer; the answer holds until
    /// the module changes, which only a `&mut` call can do: each one forgets it.
    deadline: Cell<Option<Option<Instant>>>,
}

impl ModuleNode {
    pub fn new(module: Module) -> Self {
        ModuleNode {
            module,
            public_of: Vec::new(),
            deadline: Cell::new(None),
        }
    }

    /// The module, about to change: its deadline is asked again.
    fn changing(&mut self) -> &mut Module {
        self.deadline.set(None);
        &mut self.module
    }

    /// The public address that `from` stands for on local port `port`.
    fn public_for(&self, port: u16, from: SocketAddr) -> SocketAddr {
        match self
            .public_of
            .binary_search_by_key(&(port, from), |(key, _)| *key)
        {
            Ok(index) => self.public_of[index].1,
            Err(_) => from,
        }
    }

    /// Remembers that `local` stands for `public` on local port `port`.
    fn translate(&mut self, port: u16, local: SocketAddr, public: SocketAddr) {
        let entry = ((port, local), public);
        match self
            .public_of
            .binary_search_by_key(&(port, local), |(key, _)| *key)
        {
            Ok(index) => self.public_of[index] = entry,
            Err(_) if local == public => {}
            Err(index) => {
                self.public_of.reserve_exact(1);
                self.public_of.insert(index, entry);
            }
        }
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// What the module wrote since the last call ([`Module::take_output`]). Its deadline stands:
    /// the output is no part of it.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.module.take_output()
    }

    pub fn module_mut(&mut self) -> &mut Module {
        self.changing()
    }
}

impl HostNode for ModuleNode {
    fn handle_datagram(&mut self, now: Instant, port: u16, from: SocketAddr, datagram: &[u8]) {
        let public = self.public_for(port, from);
        self.changing().handle_datagram(now, port, public, datagram);
    }

    fn poll_transmit(&mut self) -> Option<HostTransmit> {
        while let Some(uplink) = self.changing().poll_transmit() {
            let public = uplink.transmit.destination;
            let route = self.module.router().local_for(public);
            match route.or_else(|e| if uplink.direct { Ok(public) } else { Err(e) }) {
                Ok(local) => {
                    self.translate(uplink.source_port, local, public);
                    return Some(HostTransmit {
                        source_port: uplink.source_port,
                        transmit: Transmit {
                            destination: local,
                            payload: uplink.transmit.payload,
                        },
                    });
                }
                Err(e) => tracing::debug!("datagram dropped: {e}"),
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if let Some(known) = self.deadline.get() {
            return known;
        }
        let deadline = Timed::poll_timeout(&self.module);
        self.deadline.set(Some(deadline));
        deadline
    }

    fn poll_stream(&mut self) -> Option<StreamRequest> {
        let request = self.changing().poll_stream()?;
        Some(match request {
            StreamRequest::Connect { port, to } => {
                let to = self.module.router().local_for(to).unwrap_or(to);
                StreamRequest::Connect { port, to }
            }
            other => other,
        })
    }

    fn handle_stream(&mut self, now: Instant, port: u16, event: StreamEvent) {
        self.changing().handle_stream(now, port, event)
    }

    /// A ping goes to where the router sends the address's traffic.
    fn poll_lookup(&mut self) -> Option<Lookup> {
        let lookup = self.changing().poll_lookup()?;
        Some(match lookup {
            Lookup::Ping {
                port,
                to,
                size,
                timeout,
            } => Lookup::Ping {
                port,
                to: self.module.router().local_ip_for(to),
                size,
                timeout,
            },
            other => other,
        })
    }

    fn handle_lookup(&mut self, now: Instant, port: u16, answer: LookupAnswer) {
        self.changing().handle_lookup(now, port, answer)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Timed::handle_timeout(self.changing(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{find_profile, MemoryStore, ModuleConfig};

    #[test]
    fn a_routed_address_is_translated_back_per_port_and_a_direct_one_is_not_kept() {
        let config = ModuleConfig::new(find_profile("BC260Y-CN").unwrap());
        let module = Module::new(config, Box::new(MemoryStore::new())).unwrap();
        let mut node = ModuleNode::new(module);
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let (public, local) = (at("180.101.147.115:5683"), at("127.0.0.1:7000"));
        node.translate(2, local, public);
        node.translate(1, local, at("42.99.2.15:5683"));
        node.translate(1, at("8.8.8.8:53"), at("8.8.8.8:53"));
        node.translate(2, local, public);
        assert_eq!(node.public_of.len(), 2);
        assert_eq!(node.public_of.capacity(), 2);
        assert_eq!(node.public_for(2, local), public);
        assert_eq!(node.public_for(1, local), at("42.99.2.15:5683"));
        assert_eq!(node.public_for(3, local), local);
        assert_eq!(node.public_for(1, at("8.8.8.8:53")), at("8.8.8.8:53"));
    }

    #[test]
    fn the_deadline_is_asked_again_after_every_change() {
        let config = ModuleConfig::new(find_profile("BC260Y-CN").unwrap());
        let module = Module::new(config, Box::new(MemoryStore::new())).unwrap();
        let mut node = ModuleNode::new(module);
        let own = |node: &ModuleNode| Timed::poll_timeout(node.module());
        assert_eq!(node.poll_timeout(), None, "powered off");
        node.module_mut().power_on(Instant::from_unix_millis(0));
        let booted = node.poll_timeout().expect("the boot's timer");
        assert_eq!(node.poll_timeout(), own(&node));
        node.handle_timeout(booted);
        assert_ne!(node.poll_timeout(), Some(booted), "the boot is over");
        assert_eq!(node.poll_timeout(), own(&node));
    }
}
