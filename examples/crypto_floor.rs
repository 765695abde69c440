//! The crypto floor of one ECC apply, for instruction counts under callgrind:
//! `crypto_floor N` does N x (P-256 verify + P-256 sign) with aws-lc; run it with two
//! values of N and divide the difference of the totals by the difference of N.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let device = EcdsaKeyPair::from_pkcs8(
        alg,
        EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(),
    )
    .unwrap();
    let ca = EcdsaKeyPair::from_pkcs8(
        alg,
        EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(),
    )
    .unwrap();
    let csr_info = vec![7u8; 210];
    let tbs = vec![9u8; 480];
    let csr_sig = device.sign(&rng, &csr_info).unwrap();
    let public = UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        device.public_key().as_ref().to_vec(),
    );
    let mut total = 0usize;
    for _ in 0..n {
        public.verify(&csr_info, csr_sig.as_ref()).unwrap();
        total += ca.sign(&rng, &tbs).unwrap().as_ref().len();
    }
    println!("{n} verify+sign, {total} signature bytes");
}
