//! Integration tests of the reporter; see README.md in this folder.

mod browser;
mod compare;
mod fixture;
mod site;
