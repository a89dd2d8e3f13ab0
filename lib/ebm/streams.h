// Every random stream of ebm in one table (docs/maths.md §10 lists the same).
//
// A consumer seeds its generator with Rng(seed ^ kSomethingStream, stream number): the
// constant separates purposes that share a seed, the stream number separates the units of
// work within a purpose (examples, epochs, rows). Changing any value here changes every
// checkpoint, prediction and sample made with it.
#pragma once

#include <cstdint>

namespace ebm::streams {

// Training (training.cpp): parameter initialisation (stream 0), shuffling for epoch t
// (stream t), noise of training example i in epoch t (stream t * n + i), validation NLL
// estimates (stream = validation row).
constexpr std::uint64_t kInit = 0x452821e638d01377ULL;
constexpr std::uint64_t kShuffle = 0x082efa98ec4e6c89ULL;
constexpr std::uint64_t kTrain = 0xa4093822299f31d0ULL;
constexpr std::uint64_t kValid = 0xbe5466cf34e90c6cULL;
// The methods that do not score noise candidates (training.cpp): the Langevin noise of
// ml-mcmc and the perturbations of dsm for training example i in epoch t (stream t * n + i,
// as kTrain; kTrain still draws that example's proposal samples for J_KL).
constexpr std::uint64_t kMcmc = 0x0d95748f728eb658ULL;
constexpr std::uint64_t kScoreNoise = 0x718bcd5882154aeeULL;

// The held-out split of --valid-fraction (stream 0) and the temperature fit (stream =
// validation row) in ebm-train.
constexpr std::uint64_t kValidSplit = 0x3f84d5b5b5470917ULL;
constexpr std::uint64_t kTemperature = 0x9e3779b97f4a7c15ULL;

// Prediction and sampling: proposal draws and resampling of an input row (stream = hash
// of the row's feature values, seeded with kRowHash).
constexpr std::uint64_t kProposal = 0x243f6a8885a308d3ULL;
constexpr std::uint64_t kResample = 0x13198a2e03707344ULL;
constexpr std::uint64_t kRowHash = 0x8a5cd789635d2dffULL;
// Ensemble member n > 0 draws its proposal samples with seed ^ splitmix64(kEnsembleMember + n)
// (member 0 with the seed itself; ensemble.h).
constexpr std::uint64_t kEnsembleMember = 0x299f31d0082efa98ULL;

// ebm-inspect's permutation importance: the shuffle of feature j's column in repeat r
// (stream j * repeats + r, seed = --seed).
constexpr std::uint64_t kPermutation = 0x7065726d75746521ULL;

// --plot: reservoir sampling of the observed points drawn (stream number, seed = --seed).
constexpr std::uint64_t kPlotPointsStream = 0x706c6f74;

}  // namespace ebm::streams
