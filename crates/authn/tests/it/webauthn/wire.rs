//! What a software authenticator needs that is not WebAuthn: driving a future that never waits, and
//! ES256 signatures in the DER form authenticators send. Shared with `benches/webauthn.rs`.

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // The verifier's futures complete without waiting (pure computation).
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// `r || s` as DER, the way authenticators send ES256 signatures.
pub fn der(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.is_empty() || v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}
