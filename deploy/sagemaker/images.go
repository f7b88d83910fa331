package sagemaker

import (
	"fmt"
	"sort"
)

// Built-in XGBoost algorithm versions this package knows the registries for.
const (
	XGBoost17 = "1.7-1"
	XGBoost30 = "3.0-5"
	// DefaultXGBoostVersion is the image the original recipe's hyperparameters were tuned on.
	DefaultXGBoostVersion = XGBoost17
)

// xgboostRegistries (a function so the table stays immutable) maps a region to the AWS account that hosts the
// sagemaker-xgboost images there. Source: the SageMaker developer guide,
// "Docker Registry Paths and Example Code" (XGBoost algorithm, per region), as
// mirrored in aws/sagemaker-python-sdk src/sagemaker/image_uri_config/xgboost.json.
// Every sagemaker-xgboost version from 0.90-1 through 1.7-1 lists the same
// accounts; 3.0-5 is published to the same repositories (retrieved with
// image_uris.retrieve("xgboost", region, "3.0-5")), so one table serves both.
func xgboostRegistries() map[string]string {
	return map[string]string{
		"af-south-1":     "510948584623",
		"ap-east-1":      "651117190479",
		"ap-northeast-1": "354813040037",
		"ap-northeast-2": "366743142698",
		"ap-northeast-3": "867004704886",
		"ap-south-1":     "720646828776",
		"ap-south-2":     "628508329040",
		"ap-southeast-1": "121021644041",
		"ap-southeast-2": "783357654285",
		"ap-southeast-3": "951798379941",
		"ap-southeast-4": "106583098589",
		"ca-central-1":   "341280168497",
		"ca-west-1":      "190319476487",
		"cn-north-1":     "450853457545",
		"cn-northwest-1": "451049120500",
		"eu-central-1":   "492215442770",
		"eu-central-2":   "680994064768",
		"eu-north-1":     "662702820516",
		"eu-south-1":     "978288397137",
		"eu-south-2":     "104374241257",
		"eu-west-1":      "141502667606",
		"eu-west-2":      "764974769150",
		"eu-west-3":      "659782779980",
		"il-central-1":   "898809789911",
		"me-central-1":   "272398656194",
		"me-south-1":     "801668240914",
		"sa-east-1":      "737474898029",
		"us-east-1":      "683313688378",
		"us-east-2":      "257758044811",
		"us-gov-east-1":  "237065988967",
		"us-gov-west-1":  "414596584902",
		"us-west-1":      "746614075791",
		"us-west-2":      "246618743249",
	}
}

// XGBoostImage returns the built-in XGBoost image URI for a region and an
// algorithm version (XGBoost17 or XGBoost30).
func XGBoostImage(region, version string) (string, error) {
	if version != XGBoost17 && version != XGBoost30 {
		return "", fmt.Errorf("xgboost image version %q: want %s or %s", version, XGBoost17, XGBoost30)
	}
	account, ok := xgboostRegistries()[region]
	if !ok {
		return "", fmt.Errorf("xgboost image: no registry known for region %q (known: %v)", region, XGBoostRegions())
	}
	domain := "amazonaws.com"
	if region == "cn-north-1" || region == "cn-northwest-1" {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.%s/sagemaker-xgboost:%s", account, region, domain, version), nil
}

// XGBoostRegions lists the regions XGBoostImage knows, sorted.
func XGBoostRegions() []string {
	registries := xgboostRegistries()
	regions := make([]string, 0, len(registries))
	for r := range registries {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	return regions
}
