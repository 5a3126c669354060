//! Inputs for the parsers' robustness tests: pure noise, and byte mutations of a valid sample
//! (which reach deeper than noise), from a fixed seed so that a failure repeats.

/// `rounds` inputs, alternating noise and mutations of `valid`.
pub fn inputs(valid: &[u8], rounds: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..rounds).map(move |round| {
        if round % 2 == 0 || valid.is_empty() {
            (0..(next() % 96)).map(|_| next() as u8).collect()
        } else {
            let mut mutated = valid.to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % mutated.len();
                mutated[i] = next() as u8;
            }
            mutated
        }
    })
}

/// The same inputs as text, for parsers that take `&str`.
pub fn texts(valid: &str, rounds: usize) -> impl Iterator<Item = String> + '_ {
    inputs(valid.as_bytes(), rounds).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}
