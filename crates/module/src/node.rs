//! The module on a network: [`ModuleNode`] makes a [`Module`] a [`DatagramNode`], so that the same
//! module runs on the in-memory network in virtual time and on a UDP socket in real time.
//!
//! The module's engines address the operators' public hosts (`42.99.2.15:5683` for
//! `zzhc.vnet.cn`…). The node sends each datagram where the module's [`Router`] says that host
//! really is, and gives datagrams coming back from there to the module as coming from the public
//! address, so the engines never see the difference. Datagrams to hosts with no route are dropped.

use crate::module::Module;
use nbmodem_clock::{Instant, Timed};
use nbmodem_net::{DatagramNode, Transmit};
use std::collections::HashMap;
use std::net::SocketAddr;

pub struct ModuleNode {
    module: Module,
    /// The public address behind each real address the module has sent to.
    public_of: HashMap<SocketAddr, SocketAddr>,
}

impl ModuleNode {
    pub fn new(module: Module) -> Self {
        ModuleNode {
            module,
            public_of: HashMap::new(),
        }
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    pub fn module_mut(&mut self) -> &mut Module {
        &mut self.module
    }
}

impl DatagramNode for ModuleNode {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let public = self.public_of.get(&from).copied().unwrap_or(from);
        self.module.handle_datagram(now, public, datagram);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        while let Some(t) = self.module.poll_transmit() {
            match self.module.router().local_for(t.destination) {
                Ok(local) => {
                    self.public_of.insert(local, t.destination);
                    return Some(Transmit {
                        destination: local,
                        payload: t.payload,
                    });
                }
                Err(e) => tracing::debug!("datagram dropped: {e}"),
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Timed::poll_timeout(&self.module)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Timed::handle_timeout(&mut self.module, now)
    }
}
