// Package plan defines cicada's test plan: its schema (JSON and YAML share one
// set of json tags and one strict decoder), its defaults, its validation, and
// the pure functions of time that pace the load engine.
//
// # Parsing
//
// [Parse] and [LoadFile] accept JSON or YAML. Unknown fields, values of the wrong
// type, duplicate keys and trailing documents are errors that name the field
// path (target.urll: unknown field). Durations are strings ("500ms", "10s",
// "2m", "1m30s") in both formats; numbers are rejected because a bare 30 could
// mean seconds or nanoseconds. Every problem, decoding and validation alike,
// comes back at once in a [*ValidationError].
//
// # Defaults
//
// A zero value means "use the default": slice 10s, shards 1, target.timeout 5s,
// target.connections 10 (per shard), target.method POST when a body is set and
// GET otherwise (HTTP), data.order sequential, think_time 0. For the open model
// load.max_in_flight defaults to 10 × connections per shard: a target that is
// slower than the schedule then sees ten requests queued per connection before
// the engine starts dropping.
//
// # Presets
//
// target.preset names a model serving protocol ([PresetKServeV1],
// [PresetOIPV2], [PresetTFServing], [PresetVertex]) and the model to call.
// [Plan.ApplyDefaults] expands it into ordinary fields, so that everything
// downstream sees a plain target: for HTTP the URL's path (when the url has
// none), method POST and the body template; for gRPC the full method and
// the request template, in protojson (int64 fields as strings, bytes as
// base64). Every field the plan sets wins. A vertex preset also sets
// target.auth to google_access_token when the plan has no auth.
//
// # Batches and templates
//
// target.batch (1..[MaxBatch], default 1) is the number of texts one
// request carries: request i carries texts i*batch .. i*batch+batch-1 of
// the corpus, the last request wrapping around to its start. Templates see
// [TemplateData]: .Text and .Index (the request's first text), .Texts (all
// of its texts), .Record and .Records (their JSONL records), and may call
// json and base64. [Target.RenderRequests] renders every request once,
// before the run; a template that is a program (range, with, define,
// printf...) is refused.
//
// # Prediction checks
//
// target.check compares each instance's prediction in the response, found
// by a check path ([CompileCheckPath]), with check.equals rendered for the
// instance's text ([Rendered].Expect), as text ([CheckString]). A wrong
// answer is the outcome check:mismatch, a missing one check:missing;
// either is an error unless count_as is metric.
//
// # Corpora
//
// A corpus is inline (data.texts), a file next to the plan (data.file) or
// a Cloud Storage object (data.uri, read by the workers). Files and objects
// are read by [ReadCorpus], streaming: one text per non-empty line, or
// JSONL when the first non-empty line starts with '{', each object needing
// a non-empty string "text" and keeping its other fields as the record.
//
// # Stages
//
// Stages run back to back. The first stage is constant at its own rate (open)
// or users (closed) unless load.start_rate or load.start_users is set, in
// which case it ramps from that value. Each later stage ramps linearly from
// the previous stage's end value to its own over its duration, as in k6: to
// hold a rate after a ramp, repeat it in the next stage. Rates and users are
// for the whole plan; shards split them.
//
// # Schedule
//
// For the open model let Λ(t) be the integral of the rate from 0 to t. Global
// request i (0, 1, 2, ...) is intended at Arrival(i) = inf{t : Λ(t) > i}, rounded
// to the nanosecond: request 0 is at t=0 when the plan starts with load, a
// stage of rate 0 sends nothing, and the plan holds ceil(Λ(D)) requests where
// D is its duration. [Schedule.CountBefore] is computed from Arrival itself,
// so the two can never disagree by floating-point error. Global request i
// belongs to shard i % shards, so the shards' schedules add up to the plan's
// exactly. In the closed model, user u (0-based) belongs to shard u % shards.
package plan
