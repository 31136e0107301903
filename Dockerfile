# Static binary on a distroless base, running as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY backend ./backend
COPY migrations ./migrations
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/clerksync ./backend/cmd/clerksync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/clerksync /clerksync
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/clerksync"]
CMD ["serve"]
