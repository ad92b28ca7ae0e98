//! Go: one game between two GTP engines, refereed move by move by qarena
//! (`referee`), the end-of-game dead-stone claims and how they are settled
//! (`dead_stones`), and the GTP request/response cycle over an engine
//! process (`gtp_client`). Rules and SGF live in `qarena-go`.

mod dead_stones;
pub mod gtp_client;
mod referee;

pub use dead_stones::{resolve_dead_stones, DeadClaim, DeadStoneVerdict};
pub use gtp_client::GtpEngine;
pub use referee::{play_go_game, GoGameMeta};
