//! The floor of `cargo xtask bench-init`: the least a Lambda custom runtime can do before
//! asking for its first event. std only; built with `rustc` by the benchmark.

use std::io::{Read, Write};
use std::net::TcpStream;

fn main() {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        std::process::exit(2);
    };
    let Ok(mut s) = TcpStream::connect(&api) else {
        std::process::exit(3);
    };
    let req = format!(
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\nUser-Agent: floor\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        std::process::exit(4);
    }
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf);
}
