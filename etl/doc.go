// Package etl turns NSL-KDD connection records into the fixed feature vector
// the model was trained on.
//
// A record arrives as one line in any of three formats, detected per line:
//
//   - CSV in the NSL-KDD file format: the 41 features, optionally followed by
//     the label and the difficulty (41, 42 or 43 fields);
//   - a JSON object keyed by the feature names (numbers as JSON numbers or
//     numeric strings, optional "label" and "difficulty", other keys ignored);
//   - an already-encoded vector of Spec.Width() comma-separated numbers.
//
// A numeric feature may be missing (an empty CSV field, NaN, JSON null or
// ""): it is NaN in the vector, as XGBoost and the SageMaker XGBoost
// container read it.
//
// The layout of the vector is a Spec: the 38 numeric features in file order,
// then one-hot protocol_type, service and flag over vocabularies fixed at
// training time (equal to pandas get_dummies on KDDTrain+). The Spec travels
// with the model; it is never re-derived from the data being scored, because
// a vocabulary derived per file gives a narrower matrix whose columns no
// longer line up with the model's.
package etl
