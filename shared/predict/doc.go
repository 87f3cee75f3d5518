// Package predict is cicada's sample system under test: a text classifier
// served over REST and gRPC, so that `make run`, the end-to-end tests and the
// benchmarks have a realistic target that runs on 127.0.0.1 and counts what
// it receives.
//
// # Model
//
// [Model] is a multinomial naive Bayes classifier over hashed word unigrams
// and bigrams (sports, business, technology, science). [Default] is the model
// embedded in the binary (model.bin), trained by jobs/predict/train on a
// corpus that [GenerateCorpus] produces deterministically; [SampleTexts] are
// held-out sentences for load-test data. A Model is immutable and safe for
// concurrent use; Predict does not allocate.
//
// # Server
//
// [Server] serves the default model:
//
//   - REST ([Server.Handler], http.go): POST /v1/predict {"text": "..."}
//     answers {"category": 2, "label": "technology"}; GET /healthz; GET
//     /v1/stats answers [Stats]. The common body shape is read by a small
//     fast parser, anything else by encoding/json, and the two agree on every
//     input (request.go); answers are encoded once, at start.
//   - gRPC ([Server.RegisterGRPC], grpc.go): cicada.v1.Predictor/Predict,
//     the standard health service and server reflection (unless
//     Config.DisableReflection).
//
// # Serving protocols
//
// The same classifier answers each ML serving protocol's predict call
// (docs/predict.md lists the routes, bodies and errors):
//
//   - KServe V1: POST /v1/models/{m}:predict {"instances": [...]}.
//   - TF Serving: the same route with /versions/{v} and signature_name or
//     columnar inputs; tensorflow.serving.PredictionService/Predict with a
//     DT_STRING tensor.
//   - Open Inference Protocol (KServe V2, Triton): POST
//     /v2/models/{m}[/versions/{v}]/infer with a BYTES tensor, the /v2
//     health and metadata routes; inference.GRPCInferenceService.
//   - Vertex AI: POST /v1/projects/{p}/locations/{l}/endpoints/{e}:predict;
//     google.cloud.aiplatform.v1.PredictionService/Predict.
//
// The model's name, version and input name are Config.ModelName,
// ModelVersion and InputName (textcls, 1, text). Requests are checked
// against the published shapes (rest_presets.go, grpc_presets.go) and
// refused in the protocol's error form. [Stats].Presets counts, per
// protocol and transport ([KServeV1REST], [OIPv2GRPC], ...), requests,
// instances, invalid requests, batch sizes and the last request's
// [WireShape], so that an end-to-end test can show that a client spoke the
// protocol's exact shape.
//
// [Listen] opens the listeners a [Config] asks for and [Server.Serve] serves
// them until its context ends, then shuts down within
// Config.ShutdownTimeout (server.go).
//
// # Demo knobs
//
// [Config] (config.go) also holds knobs that make the service misbehave on
// purpose, all off by default: added latency and jitter, a fraction of
// requests answered 503 / UNAVAILABLE, and a periodic stall like a garbage
// collector's pause (knobs.go), and a capacity: N servers of a fixed
// service time behind one FIFO queue, N/d req/s exactly (capacity.go). They apply only to valid predict requests,
// after validation, and a shutdown releases requests they hold. With every
// knob off the hot path skips them with one branch.
//
// Every predict request, of any protocol, is counted ([Server.Requests]:
// REST on arrival, gRPC when the call reaches the handler), so a test can
// compare what a load generator says it sent with what the target saw.
package predict
