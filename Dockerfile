# A static binary on an empty base image, running as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY backend ./backend
COPY migrations ./migrations
# timetzdata embeds the time zone database, since scratch has none.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/clerksync ./backend/cmd/clerksync

FROM scratch
# CA certificates for Clerk's HTTPS.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/clerksync /clerksync
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/clerksync"]
CMD ["serve"]
