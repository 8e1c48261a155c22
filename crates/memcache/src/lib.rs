//! memcache (docs below are filled in at the end).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binary;
mod client;
pub mod error;
pub mod request;
pub mod response;
mod server;
pub mod text;

pub use client::{BinaryClient, TextClient};
pub use error::{ClientError, ProtocolError};
pub use request::{Keys, Request};
pub use response::{Response, StatValue, VERSION};
pub use server::MemcacheServer;

#[cfg(test)]
mod tests;
