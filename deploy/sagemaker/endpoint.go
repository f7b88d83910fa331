package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
)

// Endpoint describes a real-time endpoint serving one model.
type Endpoint struct {
	Name          string
	Image         string // inference image: the built-in XGBoost image or a sagewall `serve` image
	ModelData     *S3URI // model.tar.gz; optional for an image that carries its model
	RoleARN       string // execution role SageMaker assumes to pull the model
	InstanceType  string // e.g. ml.m5.large
	InstanceCount int32
	Environment   map[string]string
}

// maxNameLen is SageMaker's limit on job, model, config and endpoint names.
const maxNameLen = 63

// ValidateEndpointName checks name against SageMaker's naming rule
// (letters, digits and single hyphens inside, at most 63 characters), leaving
// room for the "-config" suffix of the derived endpoint config name.
func ValidateEndpointName(name string) error {
	return validateName("endpoint", name, maxNameLen-len(ConfigName("")))
}

// ValidateTrainingJobName checks a training job name against SageMaker's rule.
func ValidateTrainingJobName(name string) error {
	return validateName("training job", name, maxNameLen)
}

// validateName checks a SageMaker resource name: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ up to limit.
func validateName(kind, name string, limit int) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kind)
	}
	if len(name) > limit {
		return fmt.Errorf("%s name %q: %d characters, at most %d allowed", kind, name, len(name), limit)
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' || i == 0 || i == len(name)-1) {
			return fmt.Errorf("%s name %q: character %q at %d; use letters, digits and inner hyphens", kind, name, r, i+1)
		}
	}
	return nil
}

// ModelName and ConfigName derive the names of the resources an endpoint owns,
// so delete can find them even when describe calls fail half-way.
func ModelName(endpoint string) string  { return endpoint + "-model" }
func ConfigName(endpoint string) string { return endpoint + "-config" }

// CreateEndpoint runs CreateModel → CreateEndpointConfig → CreateEndpoint.
// It returns the endpoint ARN; wait for InService with WaitEndpoint.
func (dp *Deployer) CreateEndpoint(ctx context.Context, ep Endpoint) (string, error) {
	if ep.Image == "" || ep.RoleARN == "" || ep.InstanceType == "" {
		return "", errors.New("creating endpoint: image, role ARN and instance type are required")
	}
	if err := ValidateEndpointName(ep.Name); err != nil {
		return "", fmt.Errorf("creating endpoint: %w", err)
	}
	container := &smtypes.ContainerDefinition{Image: aws.String(ep.Image), Environment: ep.Environment}
	if ep.ModelData != nil {
		container.ModelDataUrl = aws.String(ep.ModelData.String())
	}
	if _, err := dp.sm.CreateModel(ctx, &sm.CreateModelInput{
		ModelName:        aws.String(ModelName(ep.Name)),
		ExecutionRoleArn: aws.String(ep.RoleARN),
		PrimaryContainer: container,
	}); err != nil {
		return "", fmt.Errorf("creating model %s: %w", ModelName(ep.Name), err)
	}
	if _, err := dp.sm.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{
		EndpointConfigName: aws.String(ConfigName(ep.Name)),
		ProductionVariants: []smtypes.ProductionVariant{{
			VariantName:          aws.String("primary"),
			ModelName:            aws.String(ModelName(ep.Name)),
			InstanceType:         smtypes.ProductionVariantInstanceType(ep.InstanceType),
			InitialInstanceCount: aws.Int32(max(ep.InstanceCount, 1)),
			InitialVariantWeight: aws.Float32(1),
		}},
	}); err != nil {
		return "", fmt.Errorf("creating endpoint config %s: %w", ConfigName(ep.Name), err)
	}
	out, err := dp.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{
		EndpointName:       aws.String(ep.Name),
		EndpointConfigName: aws.String(ConfigName(ep.Name)),
	})
	if err != nil {
		return "", fmt.Errorf("creating endpoint %s: %w", ep.Name, err)
	}
	return aws.ToString(out.EndpointArn), nil
}

// EndpointStatus is what `sagewall deploy status` shows.
type EndpointStatus struct {
	Name          string
	ARN           string
	Status        smtypes.EndpointStatus
	FailureReason string
	Config        string
	Variants      []VariantStatus
	Created       time.Time
	Modified      time.Time
}

// VariantStatus is one production variant's capacity.
type VariantStatus struct {
	Name             string
	CurrentInstances int32
	DesiredInstances int32
	InstanceType     string // from the endpoint config
}

// ErrEndpointNotFound is returned when the endpoint does not exist.
var ErrEndpointNotFound = errors.New("endpoint not found")

// Status describes an endpoint and its variants.
func (dp *Deployer) Status(ctx context.Context, name string) (EndpointStatus, error) {
	out, err := dp.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return EndpointStatus{}, fmt.Errorf("describing endpoint %s: %w", name, ErrEndpointNotFound)
		}
		return EndpointStatus{}, fmt.Errorf("describing endpoint %s: %w", name, err)
	}
	st := EndpointStatus{
		Name:          aws.ToString(out.EndpointName),
		ARN:           aws.ToString(out.EndpointArn),
		Status:        out.EndpointStatus,
		FailureReason: aws.ToString(out.FailureReason),
		Config:        aws.ToString(out.EndpointConfigName),
		Created:       aws.ToTime(out.CreationTime),
		Modified:      aws.ToTime(out.LastModifiedTime),
	}
	instanceTypes := map[string]string{}
	if cfg, err := dp.sm.DescribeEndpointConfig(ctx, &sm.DescribeEndpointConfigInput{EndpointConfigName: out.EndpointConfigName}); err == nil {
		for _, v := range cfg.ProductionVariants {
			instanceTypes[aws.ToString(v.VariantName)] = string(v.InstanceType)
		}
	}
	for _, v := range out.ProductionVariants {
		st.Variants = append(st.Variants, VariantStatus{
			Name:             aws.ToString(v.VariantName),
			CurrentInstances: aws.ToInt32(v.CurrentInstanceCount),
			DesiredInstances: aws.ToInt32(v.DesiredInstanceCount),
			InstanceType:     instanceTypes[aws.ToString(v.VariantName)],
		})
	}
	return st, nil
}

// WaitEndpoint polls until the endpoint is InService (nil), Failed (an error
// with SageMaker's reason), or ctx ends. progress sees each status change.
func (dp *Deployer) WaitEndpoint(ctx context.Context, name string, progress func(EndpointStatus, time.Duration)) (EndpointStatus, error) {
	start := time.Now()
	var last smtypes.EndpointStatus
	for {
		st, err := dp.Status(ctx, name)
		if err != nil {
			return st, fmt.Errorf("waiting for endpoint: %w", err)
		}
		if progress != nil && st.Status != last {
			progress(st, time.Since(start))
		}
		last = st.Status
		switch st.Status {
		case smtypes.EndpointStatusInService:
			return st, nil
		case smtypes.EndpointStatusFailed, smtypes.EndpointStatusOutOfService:
			return st, fmt.Errorf("endpoint %s is %s: %s", name, st.Status, st.FailureReason)
		}
		if err := sleep(ctx, dp.pollInterval); err != nil {
			return st, fmt.Errorf("waiting for endpoint %s: %w", name, err)
		}
	}
}

// Deleted lists what Delete removed.
type Deleted struct {
	Endpoint bool
	Config   string
	Models   []string
}

// Delete removes the endpoint (which stops the billing clock), then its
// endpoint config and the models the config names. Missing pieces are not
// errors, so a half-finished create or a second delete cleans up fine.
func (dp *Deployer) Delete(ctx context.Context, name string) (Deleted, error) {
	var del Deleted
	configName := ConfigName(name)
	if out, err := dp.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}); err == nil {
		configName = aws.ToString(out.EndpointConfigName)
	} else if !isNotFound(err) {
		return del, fmt.Errorf("deleting endpoint %s: %w", name, err)
	}
	models := []string{ModelName(name)}
	if cfg, err := dp.sm.DescribeEndpointConfig(ctx, &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(configName)}); err == nil {
		models = models[:0]
		for _, v := range cfg.ProductionVariants {
			models = append(models, aws.ToString(v.ModelName))
		}
	} else if !isNotFound(err) {
		return del, fmt.Errorf("deleting endpoint %s: describing config %s: %w", name, configName, err)
	}

	if _, err := dp.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(name)}); err == nil {
		del.Endpoint = true
	} else if !isNotFound(err) {
		return del, fmt.Errorf("deleting endpoint %s: %w", name, err)
	}
	if _, err := dp.sm.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String(configName)}); err == nil {
		del.Config = configName
	} else if !isNotFound(err) {
		return del, fmt.Errorf("deleting endpoint config %s: %w", configName, err)
	}
	for _, model := range models {
		if _, err := dp.sm.DeleteModel(ctx, &sm.DeleteModelInput{ModelName: aws.String(model)}); err == nil {
			del.Models = append(del.Models, model)
		} else if !isNotFound(err) {
			return del, fmt.Errorf("deleting model %s: %w", model, err)
		}
	}
	dp.log.Info("endpoint deleted", "endpoint", name, "endpoint_deleted", del.Endpoint, "config", del.Config, "models", del.Models)
	return del, nil
}

// isNotFound recognises SageMaker's "does not exist" answers: Describe*/
// Delete* report a missing endpoint, config or model as a ValidationException
// ("Could not find endpoint ...") rather than a typed not-found error.
func isNotFound(err error) bool {
	var nf *smtypes.ResourceNotFound
	if errors.As(err, &nf) {
		return true
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if apiErr.ErrorCode() != "ValidationException" {
		return false
	}
	msg := strings.ToLower(apiErr.ErrorMessage())
	return strings.Contains(msg, "could not find") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "not found")
}
