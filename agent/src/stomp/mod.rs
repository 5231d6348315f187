//! STOMP 1.2 over a websocket: the codec and a resilient session. Nothing here knows Waldur.

pub mod codec;
pub mod frame;
pub mod session;
pub mod transport;
pub mod wsfilter;

pub use codec::{CodecError, Decoder, Item, encode};
pub use frame::Frame;
