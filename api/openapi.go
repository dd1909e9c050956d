package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of this server's HTTP API:
// /api/v1, the C2SP endpoints and POST /add. openapi_test.go validates it
// and checks every route and every answer of the server against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// GET /api/v1/openapi.json: the OpenAPI document, as embedded.
func (s *server) openAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, cacheNone)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
