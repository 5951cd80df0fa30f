//! Latency histograms on the wire: HdrHistogram's standard V2 serialization
//! (its run-length encoding of empty buckets keeps them small; the reader
//! also takes V2 + DEFLATE), so any HdrHistogram implementation can read
//! them and merging is exact (counts are added, percentiles are never
//! averaged). Plain V2 rather than DEFLATE: a tally goes out every 200 ms,
//! and setting up a compressor for each histogram cost more CPU than the
//! bytes it saved.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Latencies are recorded in microseconds.
pub type LatencyHistogram = Histogram<u64>;

/// Highest latency a histogram can hold: one hour, in microseconds.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant figures kept (0.1% relative precision).
pub const SIGNIFICANT_FIGURES: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("could not encode histogram: {0}")]
    Encode(String),
    #[error("could not decode histogram: {0}")]
    Decode(String),
    #[error("could not merge histograms: {0}")]
    Merge(String),
}

/// A fresh, empty latency histogram with the project's bounds and precision.
pub fn new_latency_histogram() -> LatencyHistogram {
    // Bounds are constants that hdrhistogram accepts; a failure here is a bug.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_FIGURES)
        .expect("constant histogram bounds are valid")
}

/// Significant figures of the per-second histograms (1% relative
/// precision: a run keeps one for each second it lasts).
pub const INTERVAL_SIGNIFICANT_FIGURES: u8 = 2;

/// A fresh, empty histogram for one second's latencies.
pub fn new_interval_histogram() -> LatencyHistogram {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, INTERVAL_SIGNIFICANT_FIGURES)
        .expect("constant histogram bounds are valid")
}

/// Records one latency, clamping it into the histogram's range so that an
/// extreme value is counted rather than lost.
pub fn record_latency(histogram: &mut LatencyHistogram, micros: u64) {
    histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
}

/// Serializes a histogram in the V2 format.
pub fn encode(histogram: &LatencyHistogram) -> Result<Vec<u8>, HistogramError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
    Ok(bytes)
}

/// Reads a histogram serialized by [`encode`] (or any V2/V2+DEFLATE writer).
pub fn decode(bytes: &[u8]) -> Result<LatencyHistogram, HistogramError> {
    let mut cursor = std::io::Cursor::new(bytes);
    Deserializer::new()
        .deserialize(&mut cursor)
        .map_err(|e| HistogramError::Decode(format!("{e:?}")))
}

/// Adds `other` into `total`: the merged histogram is the histogram of all
/// samples of both.
pub fn merge_into(
    total: &mut LatencyHistogram,
    other: &LatencyHistogram,
) -> Result<(), HistogramError> {
    total
        .add(other)
        .map_err(|e| HistogramError::Merge(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram survives encode/decode with every count intact.
    #[test]
    fn encode_then_decode_is_lossless() {
        let mut h = new_latency_histogram();
        for v in [1, 250, 10_000, 2_000_000, 10_000_000] {
            record_latency(&mut h, v);
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        for v in h.iter_recorded() {
            assert_eq!(back.count_at(v.value_iterated_to()), v.count_at_value());
        }
        assert_eq!(back.max(), h.max());
    }

    /// Merging per-agent histograms gives exactly the histogram of all samples:
    /// same count, same percentiles, same max.
    #[test]
    fn merge_of_parts_equals_histogram_of_all_samples() {
        let samples: Vec<u64> = (0..30_000u64).map(|i| (i * 7919) % 5_000_000 + 1).collect();
        let mut all = new_latency_histogram();
        let mut parts = vec![new_latency_histogram(); 3];
        for (i, &s) in samples.iter().enumerate() {
            record_latency(&mut all, s);
            record_latency(&mut parts[i % 3], s);
        }
        let mut merged = new_latency_histogram();
        for part in &parts {
            let wire = decode(&encode(part).unwrap()).unwrap();
            merge_into(&mut merged, &wire).unwrap();
        }
        assert_eq!(merged.len(), samples.len() as u64);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.value_at_quantile(q),
                all.value_at_quantile(q),
                "q={q}"
            );
        }
        assert_eq!(merged.max(), all.max());
    }

    /// Garbage on the wire is an error, not a panic.
    #[test]
    fn decode_rejects_garbage() {
        assert!(decode(b"not a histogram").is_err());
        assert!(decode(&[]).is_err());
    }

    /// A latency beyond the range is clamped, not dropped.
    #[test]
    fn out_of_range_latency_is_clamped_not_lost() {
        let mut h = new_latency_histogram();
        record_latency(&mut h, u64::MAX);
        record_latency(&mut h, 0);
        assert_eq!(h.len(), 2);
    }
}
