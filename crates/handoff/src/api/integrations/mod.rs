//! Requests from other tools, authenticated by their own signatures instead of a key:
//! `slack.rs`, Slack's interactivity (SPEC §8).

pub mod slack;
