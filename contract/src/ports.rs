//! The WoT ports of a node: part of the environment contract (`PORT_CATALOGUE`, `PORT_HTTP`, `PORT_WS`,
//! `PORT_COAP`, `PORT_MQTT`), shared by the topology (which sets them) and the agent (which serves on them
//! and names packets by them).

use serde::Serialize;

/// The WoT ports of a node (0.6's defaults: catalogue 9090, HTTP 80, WS 81, CoAP 5683, MQTT 1883).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub catalogue: u16,
    pub http: u16,
    pub ws: u16,
    pub coap: u16,
    pub mqtt: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            catalogue: 9090,
            http: 80,
            ws: 81,
            coap: 5683,
            mqtt: 1883,
        }
    }
}

impl Ports {
    /// The application protocol of a port, if it is a WoT port.
    pub fn proto_of(&self, port: u16) -> Option<&'static str> {
        if port == self.http || port == self.catalogue {
            Some("http")
        } else if port == self.ws {
            Some("ws")
        } else if port == self.coap {
            Some("coap")
        } else if port == self.mqtt {
            Some("mqtt")
        } else {
            None
        }
    }
}
