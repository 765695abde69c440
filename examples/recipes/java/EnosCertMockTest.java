import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The same device created twice: each test passes only because of the reset in between. */
@ExtendWith(EnosCertMockExtension.class)
class EnosCertMockTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static String createDevice(URI mock) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(
                mock.resolve("/connect-service/v2.1/devices?action=create&orgId=o15444172373271"))
            .header("apim-accesstoken", "test")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(
                "{\"productKey\": \"BiDiProd\", \"deviceName\": \"Recipe\","
                    + " \"timezone\": \"+08:00\", \"deviceKey\": \"recipe-1\"}"))
            .build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void createADevice(URI mock) throws Exception {
        String answer = createDevice(mock);
        assertTrue(answer.startsWith("{\"code\":0,"), answer);
        assertTrue(answer.contains("\"deviceKey\":\"recipe-1\""), answer);
    }

    @Test
    void createItAgainAfterTheReset(URI mock) throws Exception {
        String answer = createDevice(mock);
        assertTrue(answer.startsWith("{\"code\":0,"), answer);
    }
}
